"""Remote: spans from other processes, services and languages (home of what comes next).

Will own the OTLP receiver on loopback (HTTP protobuf and JSON, gRPC as an extra),
the OTLP codec shared by receiving, loading, exporting and forwarding, and the
loaders of stored traces (OTLP JSON, Jaeger JSON). It may import `capture` and
`_errors`; nothing in `capture`, `tree`, `propagation` or `policies` imports it.
"""

"""Propagation: did trace context survive every hop, and if not, why not.

Owns the propagator spy (`_spy`: inject/extract calls and their carriers), the
fragment and broken-hop analysis (`_hops`), the fixture's propagation methods and
strict mode (`_checks`), and the Redis message helpers behind the public
`pytest_agenttrace.redis` (`_redis`). Imports from `capture` and `_errors` only.
"""

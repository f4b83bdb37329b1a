"""Capture: getting every span of a test, and the read-only view over them.

Owns the process-wide span router (one SDK span processor attached to every
provider we capture from), the per-test `Capture` (spans recorded at start and
end, linked into a `SpanForest` on demand), the span queries (`CapturedSpan`,
`find`, `one`) and `wait_for`. The bottom layer: it imports nothing from the
package but `_errors` (and `_options` for type hints).
"""

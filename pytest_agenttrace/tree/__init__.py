"""Tree: the expected-tree language and matching actual spans against it.

Owns the model and builder (`_model`: `ExpectedSpan`, `span(...)`, the text form
of a line), the text parser (`_parse`), the renderer of actual spans in the same
syntax (`_render`), and the matcher (`_match`: bipartite sibling assignment and the
marked failure tree; `_shapes` numbers alike span subtrees for it). Imports from
`capture` and `_errors`; `_render` never imports `_match` (the matcher builds on
the renderer, not the other way round).
"""

"""Policies: what a healthy trace looks like, as assertions and teardown settings.

Owns attributes and span budgets (`_attributes`), retries and errors
(`_outcomes`), durations, timeout budgets, outliving children and unfinished
spans (`_timing`), sampling (`_sampling`), GenAI conventions (`_genai`, rules in
`genai_rules.json`), the shared selector and wording helpers (`_findings`) and
the fixture's policy methods (`_checks`). Imports from `capture`, `_errors` and
`_options` only.
"""

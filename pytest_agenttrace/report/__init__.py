"""Report: showing a test's trace to a person, and to trace backends.

Owns the "Captured agenttrace" report section (`_section`, bounded with
`_full_text`), the session settings for seeing traces (`_settings`), the HTML
waterfall report (`_html`: a test's spans as a JSON record and the
self-contained page built from `page.html`, `waterfall.css` and `waterfall.js`;
`_html_session`: `--agenttrace-html`, collecting records per process and xdist
worker and writing the page), pytest-html's waterfall extra (`_pytest_html`),
and what happens to a test's spans after its last report (`_after_test`): the
per-test OTLP JSON export (`_export`) and forwarding to a live OTLP endpoint
(`_forward`). It may import any capability (it only reads captures); only
plugin.py imports it.
"""

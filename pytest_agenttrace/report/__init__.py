"""Report: showing a test's trace to a person.

Owns the "Captured agenttrace" report section (`_section`), the HTML waterfall
report (`_html`: a test's spans as a JSON record and the self-contained page
built from `page.html`, `waterfall.css` and `waterfall.js`; `_html_session`:
`--agenttrace-html`, collecting records per process and xdist worker and writing
the page), pytest-html's waterfall extra (`_pytest_html`), and the per-test OTLP
JSON export to come. It may import any capability (it only reads captures); only
plugin.py imports it.
"""

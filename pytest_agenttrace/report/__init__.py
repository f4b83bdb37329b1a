"""Report: showing a test's trace to a person.

Owns the "Captured agenttrace" report section (`_section`) and is the home of the
HTML waterfall report and the per-test OTLP JSON export to come. It may import
any capability (it only reads captures); only plugin.py imports it.
"""

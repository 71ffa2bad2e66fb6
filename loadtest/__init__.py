"""Load tests for the service: a locust suite, load shapes, a runner and readable reports.

`python -m loadtest --host URL --profile stepped|soak|smoke --out DIR` runs locust headless
against any base URL and writes locust's CSV and HTML report, a per-request log, PNG charts
and a summary (JSON and Markdown). See LOADTEST.md.
"""

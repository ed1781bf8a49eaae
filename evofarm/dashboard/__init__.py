"""The evolution dashboard: token-guarded web pages and JSON API, ``/metrics``, the report.

* :mod:`~evofarm.dashboard.app`: ``create_app(source, token)`` (FastAPI);
* :mod:`~evofarm.dashboard.source`: where campaigns are read (shared farm or embedded runs);
* :mod:`~evofarm.dashboard.views`: the figures, as JSON, read from a store;
* :mod:`~evofarm.dashboard.metrics`: Prometheus text;
* :mod:`~evofarm.dashboard.report`: the self-contained HTML report.

It reads the store and changes a campaign only through the CLI's control calls.
"""

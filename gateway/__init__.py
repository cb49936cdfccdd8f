"""msisdn-gateway, the gateway side: HTTP faces, verification use cases, the SMS pipeline,
storage, and the processes that run them (the modem side is the ``modem`` package).

At this top level lives only the shared kernel, which every package may import and which
imports only itself and ``modem``: ``clock`` (time as a dependency), ``errors`` (API
errors), ``logs`` (structured, masked logs), ``metrics`` (Prometheus events) and ``deps``
(what every use case needs). Everything else is a package; each one's docstring says what
lives there and what it may import (held by tests/test_import_graph.py).
"""

__version__ = "0.1.0"

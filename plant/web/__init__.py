"""The plant's web pages and JSON API: the queue for shift operators, a submission's letters, a piece's
history, the QA station's results and the throughput dashboard for managers, and Prometheus ``/metrics``, all
read from the ledger; signed-in operators act from them (:mod:`plant.web.actions`).

``plant serve`` runs :func:`serve`; :func:`create_app` is the ASGI application for tests and other servers.
"""

from plant.web.app import create_app
from plant.web.server import serve

__all__ = ["create_app", "serve"]

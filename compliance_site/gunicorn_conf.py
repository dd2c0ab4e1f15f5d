"""gunicorn's configuration for Custos (`gunicorn -c python:compliance_site.gunicorn_conf ...`).

A sync worker serves one request after another on one thread, so a persistent database connection
is safe there and saves a connection set-up per request; with threaded or async workers each
thread would keep its own connection open, so they keep Django's default of one per request.
"""

from __future__ import annotations

import os


def post_fork(server, worker) -> None:
    # Runs in the worker before it loads the application, so the settings read it at import.
    if type(worker).__name__ == "SyncWorker":
        os.environ.setdefault("CUSTOS_PERSISTENT_DB_CONNECTIONS", "1")

"""The WSGI app ``stations serve`` runs: granian calls :func:`served_app` in each worker.

A factory rather than an app built at import, so the command line can name this target
from the imported module (a rename fails there, not in a worker) without building an
app in the process that only starts granian.
"""

from flask import Flask

from web.app import create_app
from web.observability import log_to_stderr


def served_app() -> Flask:
    """The app one worker serves, its access log on standard error."""
    log_to_stderr()
    return create_app()

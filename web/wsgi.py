"""The WSGI entry point ``stations serve`` runs under granian (``web.wsgi:app``)."""

from web.app import create_app
from web.observability import log_to_stderr

log_to_stderr()
app = create_app()

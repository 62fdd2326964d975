"""``stations serve``: the API and map under granian, a production WSGI server."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

from cli.errors import reported
from stations import settings


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 64),
    help="Worker processes (default: STATIONS_WORKERS).",
)
@reported
def serve(host: str, port: int, workers: int | None) -> None:
    """Serve the API and map with granian (a production HTTP server, WSGI workers)."""
    # imported here, not with the module: the web app's imports cost every other command
    # seconds; here a renamed or broken module fails this command, not each worker
    from web import wsgi

    workers = workers or settings.value("STATIONS_WORKERS")
    settings.value("STATIONS_PUBLIC_URL")  # a bad one fails here, not in each worker
    # granian: HTTP and keep-alive in Rust, the app in each worker's Python threads; it
    # costs half of gunicorn gthread's CPU per request (bench/load.py), which is what
    # lets two cores answer 1,000 nearest searches a second
    argv = [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(settings.value("STATIONS_THREADS")),
        "--no-ws",
        "--http1-header-read-timeout",  # ms: a client that never finishes its head goes
        "30000",
        "--respawn-failed-workers",
        "--workers-kill-timeout",
        "30",
        "--factory",  # each worker builds its app (after the fork: its own connections)
        f"{wsgi.__name__}:{wsgi.served_app.__name__}",
    ]
    click.echo(f"serving on http://{host}:{port}/ with {workers} worker(s)", err=True)

    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # the workers share their metrics
        # a folder of this server's own (it execs granian under the same pid), so another
        # server on the same var folder keeps its counts; folders of gone servers go
        parent = Path(settings.path("STATIONS_VAR_DIR")) / "metrics"
        parent.mkdir(parents=True, exist_ok=True)
        for old in parent.iterdir():
            if not old.name.isdigit() or not _process_alive(int(old.name)):
                shutil.rmtree(old, ignore_errors=True)
        shared = parent / str(os.getpid())
        shutil.rmtree(shared, ignore_errors=True)  # counts start again with the server
        shared.mkdir()
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
    os.execv(sys.executable, argv)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

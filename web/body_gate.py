"""Request bodies arrive within a size and a pace, or are refused.

granian hands the app a body whose reads block the worker's thread until the bytes
arrive, with no time limit (granian issue #728, "wontfix"): six clients that announce a
body and send none held every thread of a worker, and the searches behind them waited.

Here the body is read only when the app first asks for it: after routing and the token
check, so a request that is answered 401, 404 or 405 never waits on its body. It is then
read by a helper thread into a spooled file, while the request's thread waits at most
``idle_s`` for each next piece: a body that stalls is answered 408, one past the size
limit 413 (chunked bodies included, which Werkzeug would otherwise read as empty).

A read still pending in granian when its request's answer is complete freezes the whole
worker (every connection, not just that one) until the client goes: so after a 408 the
answer goes out at once, but the request's thread then waits, in the answer's ``close``,
for the helper's read to end (the client sends more or hangs up). At most ``readers``
bodies are read at once per worker, fewer than its threads, and more are answered 503:
stalled clients can hold those threads and no others, so searches go on.
"""

from __future__ import annotations

import io
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout, ServiceUnavailable

from web.bilingual import bilingual

PIECE = 16 * 1024  # a body must bring this much within each idle period
SPOOL_IN_MEMORY = 1024 * 1024  # larger bodies go to a temporary file

REFUSED = "stations.body_refused"  # set in the environ when the body was refused

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class BodyGate:
    """WSGI middleware: the app reads the body from a local file, filled within limits."""

    def __init__(
        self,
        app: WsgiApp,
        max_bytes: Callable[[], int | None],
        idle_s: Callable[[], float],
        readers: int = 32,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.idle_s = idle_s
        self.readers = threading.BoundedSemaphore(readers)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Swap in the gated body (when there is one) and call the app."""
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not chunked and environ.get("CONTENT_LENGTH", "0") in ("", "0"):
            return self.app(environ, start_response)
        gated = _GatedInput(environ, self)
        environ["wsgi.input"] = gated
        if chunked:  # the gate ends it: Werkzeug may read it, against MAX_CONTENT_LENGTH
            environ["wsgi.input_terminated"] = True
        answer = self.app(environ, start_response)
        if gated.reader is not None and not gated.reader.done:
            return _HeldUntilRead(answer, gated.reader)
        return answer


class _HeldUntilRead:
    """An answer sent at once, whose request ends only when its body's read has ended.

    See the module docstring; granian calls ``close`` on the request's thread.
    """

    def __init__(self, answer: Iterable[bytes], reader: _Reader) -> None:
        self.answer = answer
        self.reader = reader

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.answer)

    def close(self) -> None:
        try:
            close = getattr(self.answer, "close", None)
            if close is not None:
                close()
        finally:
            self.reader.wait_gone()


class _GatedInput(io.RawIOBase):
    """``wsgi.input`` that fills itself, whole and within the limits, on the first read."""

    def __init__(self, environ: dict[str, Any], gate: BodyGate) -> None:
        self.environ = environ
        self.source = environ["wsgi.input"]
        self.gate = gate
        self.spool: Any = None
        self.reader: _Reader | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.spool is None:
            self.spool = self._fill()
        data = self.spool.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()
        super().close()

    def _fill(self) -> Any:
        if not self.gate.readers.acquire(blocking=False):
            self.environ[REFUSED] = "busy"
            raise bilingual(
                ServiceUnavailable("too many uploads are arriving at once; try again shortly"),
                "同时上传的请求过多；请稍后再试",
            )
        limit, idle_s = self.gate.max_bytes(), self.gate.idle_s()
        reader = self.reader = _Reader(self.source, limit, self.gate.readers)
        outcome = reader.wait(idle_s)
        if outcome is not None:
            self.environ[REFUSED] = outcome
        if outcome == "too-large":
            assert limit is not None
            raise too_large(limit)
        if outcome == "too-slow":
            raise bilingual(
                RequestTimeout(
                    f"the request body stopped arriving (nothing for {idle_s:g} s); check the "
                    "connection and send it again"
                ),
                f"请求内容停止传送（{idle_s:g} 秒没有新数据）；请检查网络后重新发送",
            )
        return reader.spool


class _Reader:
    """Copies one body to a spooled file on a helper thread, reporting its progress."""

    def __init__(self, source: Any, limit: int | None, readers: threading.Semaphore) -> None:
        self.source = source
        self.limit = limit
        self.readers = readers
        self.spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
        self.size = 0
        self.outcome: str | None = None
        self.done = False
        self.moved = threading.Condition()
        threading.Thread(target=self._copy, name="body-reader", daemon=True).start()

    def _copy(self) -> None:
        try:
            while True:
                piece = self.source.read(PIECE)
                with self.moved:
                    if not piece or self.outcome is not None:
                        break
                    self.size += len(piece)
                    if self.limit is not None and self.size > self.limit:
                        self.outcome = "too-large"
                        break
                    self.spool.write(piece)
                    self.moved.notify()
        except Exception:  # the client went away mid-body: the app sees a short body
            pass
        finally:
            with self.moved:
                self.done = True
                self.moved.notify_all()
            self.readers.release()

    def wait_gone(self) -> None:
        """Until the helper's read has returned and the helper has ended."""
        with self.moved:
            while not self.done:
                self.moved.wait()

    def wait(self, idle_s: float) -> str | None:
        """Until the body is in (None), too large, or stalled for ``idle_s`` (too slow)."""
        with self.moved:
            while not self.done and self.outcome is None:
                seen = self.size
                self.moved.wait(idle_s)
                if not self.done and self.outcome is None and self.size == seen:
                    self.outcome = "too-slow"  # the helper stops after its current read
            if self.outcome is None:
                self.spool.seek(0)
            else:
                self.spool.close()
            return self.outcome


def too_large(limit: int) -> RequestEntityTooLarge:
    """413 saying what the size limit is, in the unit a person would use."""
    amount = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit} bytes"
    zh = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit} 字节"
    return bilingual(
        RequestEntityTooLarge(f"the body may be at most {amount} (STATIONS_MAX_BODY_MB)"),
        f"请求内容过大：最多 {zh}（STATIONS_MAX_BODY_MB）",
    )

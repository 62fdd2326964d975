"""A request body for the Flask test client that is announced and never sent."""

from __future__ import annotations

import io
import threading


class NeverSent(io.RawIOBase):
    """A request body whose bytes never come, until the client is said to be ``gone``."""

    def __init__(self) -> None:
        self.gone = threading.Event()

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return 0

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def read(self, size: int = -1) -> bytes:
        self.gone.wait(60)
        return b""

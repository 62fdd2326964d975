"""Helpers for work that builds hundreds of thousands of small objects at once."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block; nested pauses are fine.

    Imports and reports allocate millions of small acyclic objects (rows, reasons), and
    the collector would walk them again and again: a fifth to a third of the time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()

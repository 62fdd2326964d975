"""Where a command's result goes: a file, or standard output for ``-``."""

from __future__ import annotations

import sys
from pathlib import Path

import click


def write(output: Path, text: str) -> None:
    """``text`` and a newline to ``output`` (UTF-8), or to standard output for ``-``."""
    if str(output) == "-":
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")


def write_bytes(output: Path, data: bytes) -> None:
    """``data`` as is to ``output``, or to standard output for ``-``."""
    if str(output) == "-":
        sys.stdout.buffer.write(data)
    else:
        output.write_bytes(data)

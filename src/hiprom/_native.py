"""Keep native libraries' chatter (LiteRT, FFmpeg via OpenCV) off the user's terminal."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["native_stderr_silenced"]


@contextlib.contextmanager
def native_stderr_silenced(enabled: bool = True) -> Iterator[None]:
    """Silence what native code writes to file descriptor 2 inside the block.

    MediaPipe/LiteRT log their set-up and FFmpeg its codec-tag fallbacks straight to the
    process's stderr, below Python. hiprom raises its own exceptions for real failures, so
    nothing the user needs is lost. Set ``HIPROM_NATIVE_LOGS=1`` to see them.
    """
    if not enabled or os.environ.get("HIPROM_NATIVE_LOGS") == "1":
        yield
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced (e.g. by pytest)
        fd = 2
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)

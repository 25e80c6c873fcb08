"""Keep native libraries to themselves.

* :func:`native_stderr_silenced`: their chatter (LiteRT, FFmpeg via OpenCV) off the user's
  terminal.
* :func:`quiet_ffmpeg_log`: FFmpeg's decoder errors off it too (one per damaged frame).
* :func:`block_mediapipe_usage_logging`: MediaPipe's usage logging off the network.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
from collections.abc import Iterator

__all__ = ["UsageLoggingBlock", "block_mediapipe_usage_logging", "native_stderr_silenced",
           "quiet_ffmpeg_log"]


def quiet_ffmpeg_log() -> None:
    """Keep FFmpeg's own log (through OpenCV) off stderr for this process and its children.

    FFmpeg logs every damaged frame of a clip at its "error" level ("[mpeg4 @ 0x...] marker
    does not match f_code"), thousands of lines for one damaged section, which OpenCV lets
    through; hiprom reports damage itself (the ``decode_gap`` and ``truncated`` flags and one
    warning). OpenCV reads ``OPENCV_FFMPEG_LOGLEVEL`` once, when it first uses FFmpeg, so
    call this before opening any video. A level the user set is kept, and
    ``HIPROM_NATIVE_LOGS=1`` keeps FFmpeg's default.
    """
    if os.environ.get("HIPROM_NATIVE_LOGS") != "1":
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")   # AV_LOG_QUIET


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


# --------------------------------------------------------------------- MediaPipe usage logging
# The MediaPipe wheels (1.2.3) link Google's usage-logging client into libmediapipe.so:
# every task (our PoseLandmarker included) posts session statistics with libcurl to
# https://play.googleapis.com/log every 60 s and when it is closed. Neither BaseOptions nor
# the C API nor any environment variable of the library turns it off. libcurl does honour
# the standard proxy variables, which it reads at each request: pointed at a loopback port
# that refuses connections, the request ends there, without a DNS lookup or a packet
# leaving the machine. README.md ("Privacy") has the evidence.

#: What libcurl reads for an https:// URL: the proxy (lower case first), and the hosts that
#: bypass it (an empty value counts as unset, so both spellings are removed).
_PROXY_VAR = "https_proxy"
_BYPASS_VARS = ("no_proxy", "NO_PROXY")
#: Used only when no loopback port can be reserved (no IPv4 loopback): the discard port.
_FALLBACK_PROXY = "http://127.0.0.1:9"


class _UsageLoggingBlocker:
    """Process-wide and reference-counted: the variables are set while any holder is open.

    The first holder saves the caller's values and sets ours; the last one to release
    restores each variable that still holds our value. The proxy is a TCP port reserved on
    127.0.0.1 by a socket that is bound but never listens, so every connection to it is
    refused and no other program can take the port meanwhile.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holders = 0
        self._saved: dict[str, str | None] = {}
        self._proxy = ""
        self._socket: socket.socket | None = None

    def acquire(self) -> None:
        with self._lock:
            if self._holders == 0:
                self._proxy = self._reserve_port()
                self._saved = {k: os.environ.get(k) for k in (_PROXY_VAR, *_BYPASS_VARS)}
                os.environ[_PROXY_VAR] = self._proxy
                for name in _BYPASS_VARS:
                    os.environ.pop(name, None)
            self._holders += 1

    def release(self) -> None:
        with self._lock:
            if self._holders == 0:
                return
            self._holders -= 1
            if self._holders:
                return
            if os.environ.get(_PROXY_VAR) == self._proxy:
                _restore(_PROXY_VAR, self._saved[_PROXY_VAR])
            for name in _BYPASS_VARS:
                if name not in os.environ:
                    _restore(name, self._saved[name])
            if self._socket is not None:
                self._socket.close()
                self._socket = None

    def _reserve_port(self) -> str:
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
        except OSError:
            return _FALLBACK_PROXY
        self._socket = sock
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _restore(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


_BLOCKER = _UsageLoggingBlocker()


class UsageLoggingBlock:
    """One holder of the block; :meth:`release` (idempotent) lets it go."""

    def __init__(self) -> None:
        _BLOCKER.acquire()
        self._released = False

    def release(self) -> None:
        """Give the block up; the variables are restored when no holder is left."""
        if not self._released:
            self._released = True
            _BLOCKER.release()


def block_mediapipe_usage_logging() -> UsageLoggingBlock:
    """Keep MediaPipe's usage-logging requests on this machine until the block is released.

    Sets ``https_proxy`` to a refusing loopback port and removes ``no_proxy``/``NO_PROXY``
    in this process's environment, which libcurl inside MediaPipe reads at each request.
    Hold it for as long as a MediaPipe task is open (it posts periodically and on close);
    other HTTPS clients in the same process that honour these variables fail meanwhile.
    """
    return UsageLoggingBlock()

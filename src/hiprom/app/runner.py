"""Run the app: bind a loopback port (with a fallback), serve with uvicorn, open the browser."""

from __future__ import annotations

import errno
import logging
import socket
import webbrowser
from pathlib import Path

from hiprom.app.server import create_app
from hiprom.app.state import AppConfig
from hiprom.errors import HipromError, printable

__all__ = ["DEFAULT_PORT", "HOST", "bind", "serve"]

log = logging.getLogger(__name__)
#: Loopback only: the app is never reachable from another machine.
HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def bind(port: int = DEFAULT_PORT) -> tuple[socket.socket, bool]:
    """A listening socket on 127.0.0.1:``port``, or on a free port when that one is taken.

    Args:
        port: the port to try first; 0 asks the system for a free one.

    Returns:
        The socket and whether it fell back to another port than asked.

    Raises:
        HipromError: no port could be bound on the loopback interface.

    """
    for candidate in dict.fromkeys((port, 0)):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((HOST, candidate))
        except OSError as err:
            sock.close()
            if err.errno in (errno.EADDRINUSE, errno.EACCES) and candidate != 0:
                continue
            raise HipromError(f"cannot listen on {HOST}:{candidate} ({err.strerror})") from err
        sock.listen(16)
        sock.set_inheritable(True)
        return sock, candidate != port
    raise HipromError(f"cannot listen on {HOST}")  # pragma: no cover - the loop returns


def url_of(sock: socket.socket) -> str:
    """The page's address for a bound socket."""
    return f"http://{HOST}:{sock.getsockname()[1]}/"


def serve(sock: socket.socket, *, out_dir: Path, person: str, open_browser: bool,
          quiet: bool = False, show_faces: bool = False) -> None:
    """Serve the app on ``sock`` until Ctrl+C.

    Args:
        sock: from :func:`bind`.
        out_dir: where each test's result files go.
        person: whose history tests are saved into by default.
        open_browser: open the page in the default browser once the server listens.
        quiet: no access log and no "saved" lines.
        show_faces: keep faces unblurred in saved pictures (:class:`AppConfig`).

    """
    import uvicorn

    def saved(paths: list[Path]) -> None:
        if not quiet:  # the paths hold --out: one line, no control character reaches the terminal
            print("saved " + ", ".join(printable(p) for p in paths), flush=True)

    config = AppConfig(out_dir=out_dir, person=person, port=sock.getsockname()[1],
                       on_saved=saved, show_faces=show_faces)
    server = uvicorn.Server(uvicorn.Config(
        create_app(config), log_level="warning" if quiet else "info",
        access_log=False, lifespan="off", ws_max_size=4 * 1024 * 1024))
    if open_browser:
        _open_when_up(server, url_of(sock))
    server.run(sockets=[sock])


def _open_when_up(server: object, url: str) -> None:
    """Open ``url`` in the browser from a thread, once uvicorn says it started."""
    import threading
    import time

    def wait_and_open() -> None:
        for _ in range(200):
            if getattr(server, "started", False):
                break
            time.sleep(0.05)
        try:
            webbrowser.open(url)
        except webbrowser.Error as err:  # pragma: no cover - depends on the desktop
            log.warning("could not open a browser (%s); open %s yourself", err, url)

    threading.Thread(target=wait_and_open, daemon=True, name="open-browser").start()

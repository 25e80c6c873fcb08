"""The ``hiprom app`` command: the guided self-test in the browser, served from this machine.

Wire it in with ``register(app)``. Also holds :func:`no_display_reason`, which ``hiprom live``
asks before it opens a window.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from hiprom.cli.common import PERSON_ENV, checked_person, out_dir
from hiprom.errors import HipromError, describe_os_error, printable

__all__ = ["no_display_reason", "register"]


def no_display_reason() -> str | None:
    """Why no window can open here (Linux without X11 or Wayland), or None."""
    if not sys.platform.startswith("linux"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return ("no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset): run "
            "`hiprom app` for the guided test in your browser, or add --headless")


def app_command(
    port: Annotated[int, typer.Option(
        "--port", min=0, max=65535,
        help="Port on 127.0.0.1 (taken: a free one is used; 0: any free one).")] = 8765,
    browser: Annotated[bool, typer.Option(
        "--browser/--no-browser", help="Open the page in the default browser.")] = True,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Folder for the result files of each test [default: "
        "hiprom-results].", show_default=False)] = None,
    person: Annotated[str, typer.Option(
        "--person", envvar=PERSON_ENV, show_envvar=True, callback=checked_person,
        help="Whose progress history the tests are saved into.")] = "default",
    show_faces: Annotated[bool, typer.Option(
        "--show-faces", help="Do not blur faces in the saved key frame and annotated video "
        "(the page's 'keep video' option); by default every face is blurred.")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="Print only the address and errors.")] = False,
) -> None:
    """Guided self-test in your browser: camera check, live overlay, result, routine, history."""
    from hiprom.app.runner import bind, serve, url_of
    from hiprom.cli.main import err_console, fail, out_console

    try:
        out = out_dir(out, "hiprom-results")
        # Made now: a folder that cannot be (a file in its way, no permission) would
        # otherwise be found only when saving the test the user has just done.
        out.mkdir(parents=True, exist_ok=True)
        sock, moved = bind(port)
    except HipromError as err:
        raise fail(str(err)) from None
    except OSError as err:
        raise fail(describe_os_error(err, out) or f"cannot create {out} ({err}); pick another "
                   "--out folder") from None
    url = url_of(sock)
    if moved and not quiet:
        err_console.print(f"port {port} is taken; using {sock.getsockname()[1]}")
    out_console.print(f"hiprom app: {url}", soft_wrap=True)
    if not quiet:
        out_console.print(f"results go to {printable(out.resolve())}; Ctrl+C stops the app",
                          soft_wrap=True)
    with sock:
        try:
            serve(sock, out_dir=out, person=person, open_browser=browser, quiet=quiet,
                  show_faces=show_faces)
        except KeyboardInterrupt:
            # Ctrl+C is how the app is stopped (its start line says so): each test was saved
            # when it ended, so there is nothing to warn about; 130 as for any interrupt.
            raise typer.Exit(130) from None


def register(app: typer.Typer) -> None:
    """Add the ``app`` command to ``app``."""
    app.command(name="app")(app_command)

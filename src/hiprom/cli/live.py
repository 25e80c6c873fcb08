"""The ``hiprom live`` command: a guided self-test in front of a webcam (or a recording).

Wire it in with ``register(app)``; the command is thin: it builds :class:`LiveOptions`,
calls :func:`hiprom.live.session.run_live`, prints the result and exits 1 on a camera error.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Annotated

import typer

from hiprom.backends.base import PoseModel
from hiprom.cli.common import NOT_SAVED, PersonOption, ShowFacesOption, check_out_dir
from hiprom.errors import HipromError, describe_os_error, printable
from hiprom.pipeline.analysis import MeasureOptions

__all__ = ["register"]

log = logging.getLogger(__name__)


def _print_summary(result: object, written: list[Path]) -> None:
    from hiprom.cli.main import _summary_table, out_console

    _summary_table(result)  # type: ignore[arg-type]
    if written:
        out_console.print("wrote " + ", ".join(printable(p) for p in written),
                          soft_wrap=True)


def live(
    camera: Annotated[int, typer.Option("--camera", "-c", min=0,
                                        help="Camera index (0 is usually the built-in one).")] = 0,
    source: Annotated[Path | None, typer.Option(
        "--source", exists=True, dir_okay=False,
        help="Feed a video file through the same loop instead of a camera (no keys needed).",
    )] = None,
    headless: Annotated[bool, typer.Option(
        help="Run without a window (with --source: a camera test needs SPACE pressed).")
    ] = False,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Folder for the result files [default: hiprom-results/live-<time>].",
    )] = None,
    person: PersonOption = None,
    history: Annotated[bool, typer.Option(
        help="With --person: save the test into the history (--no-history: don't).")] = True,
    realtime: Annotated[bool | None, typer.Option(
        "--realtime/--no-realtime", help="Play --source at its own pace (default with a "
        "window); --no-realtime feeds its frames as fast as they are analysed.",
    )] = None,
    linger: Annotated[float | None, typer.Option(
        "--linger", min=0.0, help="With --source: seconds the result stays on screen "
        "(default: until a key).")] = None,
    model: Annotated[PoseModel, typer.Option(
        help="Pose network: full (default; keeps 30 fps), lite (faster; errs about twice as "
             "much as full) or heavy (a second opinion, too slow for 30 fps on a small "
             "machine).")] = PoseModel.FULL,
    show_faces: ShowFacesOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
) -> None:
    """Guided seated hip rotation self-test: SPACE start/next, r redo a rep, q or Esc quit."""
    from hiprom.cli.app import no_display_reason
    from hiprom.cli.main import err_console, fail, out_console, stop_signals_as_interrupt
    from hiprom.live.save import has_values
    from hiprom.live.session import DEFAULT_OUT_PARENT, LiveOptions, run_live, save_history
    from hiprom.media.document import refusal, result_document

    if headless and source is None:
        # The guide waits for SPACE on its safety screen, and no window means no key.
        raise typer.BadParameter(
            "a camera test needs a window to press SPACE in: leave out --headless, play a "
            "recording with --source FILE, or use hiprom app", param_hint="'--headless'")
    if not headless and (reason := no_display_reason()):
        raise fail(reason)
    try:
        # Without --out the session is saved below hiprom-results/: checked just the same,
        # before the user does the test, and named as the default folder when refused.
        check_out_dir(DEFAULT_OUT_PARENT if out is None else out, given=out is not None)
    except HipromError as err:
        raise fail(str(err)) from None
    options = LiveOptions(camera=camera, source=source, headless=headless, out_dir=out,
                          realtime=realtime, linger_s=linger,
                          measure=MeasureOptions(model=model), show_faces=show_faces)
    try:
        with stop_signals_as_interrupt():  # SIGTERM, SIGHUP: stop like Ctrl-C, keep the reps
            result = run_live(options)
        m = result.measurement
        if m is not None and m.valid and has_values(m) and history and person:
            # a refused test, or one with no value (quit before any rep): files only
            json_path = next((p for p in result.written if p.suffix == ".json"), None)
            if json_path is not None:
                save_history(m, person, json_path)
    except HipromError as err:
        raise fail(str(err)) from None
    except OSError as err:  # the result files: no permission, full disk, --out is a file
        message = describe_os_error(err, out)
        if message is None:
            raise
        raise fail(message) from None
    if m is None:
        if result.interrupted:
            err_console.print("interrupted before anything was measured; nothing was saved",
                              soft_wrap=True)
            raise typer.Exit(code=130)
        raise fail("nothing was measured: no frame reached the pose model")
    document = result_document(m)
    if not quiet:
        _print_summary(document, result.written)
        fps = result.fps  # nan when fewer than two frames were shown
        out_console.print(f"{result.frames_analysed} frames analysed"
                          + (f", {fps:.1f} frames/s shown" if math.isfinite(fps) else ""))
        if history and not person:
            out_console.print(NOT_SAVED, soft_wrap=True)
    if result.interrupted:
        err_console.print("interrupted; the reps measured so far are saved (flagged "
                          "truncated)", soft_wrap=True)
        raise typer.Exit(code=130)
    if result.error is not None:
        raise fail(f"{result.error} (the reps measured so far are saved)")
    if (reason := refusal(document)) is not None:  # saved for the record, as measure does
        raise fail(f"not the seated test: {reason}")


def register(app: typer.Typer) -> None:
    """Add the ``live`` command to ``app``."""
    app.command(name="live")(live)

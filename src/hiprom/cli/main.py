"""The ``hiprom`` command line: a thin layer over :mod:`hiprom.pipeline.analysis` and friends.

Every command catches :class:`~hiprom.errors.HipromError` once, prints one red line to
stderr and exits with code 1; nothing prints a traceback for bad input. A usage error (a
missing argument, an unknown option) is one line too, with exit code 2, for every command
at once (:class:`~hiprom.cli.usage.OneLineUsageGroup`). File-system errors
that are the user's (no permission, read-only or full disk, a file where the output folder
should be) are one line too (:func:`~hiprom.errors.describe_os_error`); "internal error"
is kept for bugs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from hiprom._version import __version__
from hiprom.backends.base import PoseModel
from hiprom.cli.common import (
    FAST_RETIRED,
    NOT_SAVED,
    ModelOption,
    PersonOption,
    SecondNetworkOption,
    ShowFacesOption,
    SideOption,
    interrupted,
    out_dir,
    sampling_options,
    usage_error,
)
from hiprom.cli.consoles import console, titled_table
from hiprom.cli.usage import OneLineUsageGroup
from hiprom.core.selection import PersonPolicy
from hiprom.errors import HipromError, InputError, describe_os_error, printable
from hiprom.media.exports import ExportFormat
from hiprom.pipeline.analysis import TestedSide
from hiprom.vocabulary import SIDES

if TYPE_CHECKING:
    from hiprom.pipeline.analysis import MeasureOptions
    from hiprom.pipeline.measure import Progress

__all__ = ["app", "main"]

app = typer.Typer(
    name="hiprom",
    cls=OneLineUsageGroup,  # a usage error (e.g. a missing argument) is one line too
    help="Measure seated hip internal rotation from a camera, video or photo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: no markup interpretation (brackets in help text and defaults survive,
    # e.g. pip install "hiprom[dask]") and no <bool>-style placeholders.
    rich_markup_mode=None,
)
log = logging.getLogger("hiprom")
#: Every string printed may hold user text (paths, names): no console interprets markup.
#: To a pipe or a log file, neither wraps nor cuts a line (:mod:`hiprom.cli.consoles`).
err_console = console(stderr=True)
out_console = console()


def _setup_logging(verbose: bool) -> None:
    # Native MediaPipe/TFLite logging goes straight to stderr; keep it quiet unless asked.
    os.environ.setdefault("GLOG_minloglevel", "0" if verbose else "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "2")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "INFO" if verbose else "ERROR")
    handler = _LineHandler()
    handler.addFilter(_printable_record)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[handler],
    )


class _LineHandler(logging.Handler):
    """Each log record as one ``warning: …`` line on stderr, never wrapped.

    A rich log table wrapped a long message (a file path) at 80 columns whenever stderr was
    not a terminal, breaking one message over several lines in logs and CI output.
    """

    def emit(self, record: logging.LogRecord) -> None:
        style = ("bold red" if record.levelno >= logging.ERROR
                 else "yellow" if record.levelno >= logging.WARNING else "dim")
        try:
            err_console.print(Text.assemble((f"{record.levelname.lower()}: ", style),
                                            self.format(record)), soft_wrap=True)
        except OSError:
            # stderr is gone (a closed pipe, a full disk under a log file): the warning
            # cannot be shown, and the run that logged it goes on to write its results
            # (logging's own handleError would print a traceback where it can).
            pass


def _printable_record(record: logging.LogRecord) -> bool:
    """Show a log message through :func:`~hiprom.errors.printable` (it may name a file)."""
    record.msg, record.args = printable(record.getMessage()), None
    return True


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one red line to stderr and return the Exit to raise.

    The message is shown through :func:`~hiprom.errors.printable`: a file or person name in
    it cannot put an escape sequence or a line break on the user's terminal.
    """
    err_console.print(Text.assemble(("error: ", "bold red"), printable(message)),
                      soft_wrap=True)
    return typer.Exit(code=code)


@contextlib.contextmanager
def stop_signals_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP end the block like Ctrl-C (a KeyboardInterrupt).

    ``timeout``, a job scheduler or a closed terminal stop a run with these; by default they
    kill the process at once, leaving the temporary files of the set being written. As an
    interrupt, the command does what it does on Ctrl-C (``measure`` removes the set being
    written, ``live`` saves the reps so far), and exits 130.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # A signal the user chose to ignore (``nohup`` ignores SIGHUP) stays ignored.
    stops = [s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None))
             if s is not None and signal.getsignal(s) is not signal.SIG_IGN]
    saved = {s: signal.signal(s, interrupt) for s in stops}
    try:
        yield
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def _frame_progress(name: str, *, enabled: bool) -> Iterator[Progress | None]:
    """A progress bar on a terminal (stderr), nothing when piped or quiet."""
    if not (enabled and err_console.is_terminal):
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    with Bar(TextColumn("{task.description}", markup=False), BarColumn(),
             MofNCompleteColumn(), TimeRemainingColumn(), console=err_console,
             transient=True) as bar:
        task = bar.add_task(name, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield update


def _print_version(value: bool) -> None:
    if value:
        out_console.print(f"hiprom {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version.", is_eager=True,
                     callback=_print_version),
    ] = False,
) -> None:
    _setup_logging(verbose)


def _verdict_word(leg: dict) -> str:
    """The verdict code in words; "not tested" for a leg that was not tested."""
    if leg.get("tested") is False:
        return "not tested"
    code = (leg.get("verdict") or {}).get("code")
    if code == "not_measured" and leg.get("external_rotation_deg") is not None:
        return "IR not measured"    # an ER hold only: ER is shown, IR is what is rated
    return "—" if code is None else str(code).replace("_", " ")


def _summary_table(result: dict) -> None:
    table = titled_table(printable(Path(result["source"]["path"]).name))
    for col in ("leg", "IR (held)", "±95%", "ER (held)", "verdict", "quality"):
        table.add_column(col)
    for side in SIDES:
        leg = result["legs"][side]
        ir, ci, er = (leg["internal_rotation_deg"], leg["internal_rotation_ci95_deg"],
                      leg["external_rotation_deg"])
        table.add_row(
            side,
            "–" if ir is None else f"{ir:.1f}°",
            "–" if ci is None else f"{ci:.1f}°",
            "–" if er is None else f"{er:.1f}°",
            _verdict_word(leg),
            # a resting leg's flags (no hold, no neutral) describe a rest, not a problem
            "–" if leg.get("tested") is False else printable(", ".join(leg["quality"]) or "ok"),
        )
    out_console.print(table)
    if note := (result.get("protocol") or {}).get("note"):   # e.g. which leg a photo tested
        out_console.print(Text.assemble(("note: ", "yellow"), printable(note)), soft_wrap=True)
    asym = result["asymmetry"]
    if asym.get("difference_deg") is not None:
        out_console.print(printable(asym["sentence"]), soft_wrap=True)


@app.command()
def measure(
    paths: Annotated[
        list[Path],
        # readable=False: an unreadable file fails alone (media.sources), the others are
        # still measured; click's check would refuse the whole command with a usage error.
        typer.Argument(help="Video files or photos of the seated test.", show_default=False,
                       readable=False),
    ],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Folder for the result files [default: hiprom-results].",
        show_default=False)] = None,
    annotate: Annotated[
        bool, typer.Option(help="Also write an annotated video (.webm) or photo (.png).")
    ] = False,
    mirrored: Annotated[
        bool, typer.Option(help="The input is a mirrored (selfie) view.")
    ] = False,
    subject: Annotated[
        PersonPolicy, typer.Option(help="Who to measure when several people are in view.")
    ] = PersonPolicy.AUTO,
    model: ModelOption = PoseModel.FULL,
    second_network: SecondNetworkOption = False,
    side: SideOption = TestedSide.AUTO,
    every_frame: Annotated[bool, typer.Option(
        "--every-frame", help="Analyse every frame of a clip (the default samples it "
        "adaptively: sparsely where nothing moves, every frame where the legs move). "
        "--annotate and --export imply it.")] = False,
    stride: Annotated[int, typer.Option(min=1, help="Analyse every N-th frame instead.")] = 1,
    fast: Annotated[bool, typer.Option(
        hidden=True, help="Retired: adaptive sampling is the default and faster.")] = False,
    person: PersonOption = None,
    history: Annotated[bool, typer.Option(
        help="With --person: save the test into the history (--no-history: don't).")] = True,
    export: Annotated[list[ExportFormat] | None, typer.Option(
        "--export", help="Also write the per-frame hip rotation for research tools: mot "
        "(OpenSim) or c3d; repeatable. Measures every frame.")] = None,
    show_faces: ShowFacesOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
) -> None:
    """Measure hip rotation in videos or photos; writes <stem>.json and <stem>.csv per input.

    Also <stem>.keyframe.png (and with --annotate the annotated video or photo), with every
    face blurred unless --show-faces.
    """
    exports = tuple(export or ())
    if exports and stride > 1:
        raise usage_error("--export needs every frame analysed; drop --stride")
    if fast:
        err_console.print(Text.assemble(("note: ", "yellow"), FAST_RETIRED), soft_wrap=True)
    options = sampling_options(every_frame=every_frame or annotate or bool(exports),
                               implied_by="--every-frame, --annotate or --export",
                               stride=stride, mirrored=mirrored, subject=subject,
                               side=side, model=model, second_network=second_network)
    try:
        out = out_dir(out, "hiprom-results")
    except InputError as err:
        raise fail(str(err)) from None
    try:
        with stop_signals_as_interrupt():
            failed = _measure_all(paths, out, options, annotate=annotate, exports=exports,
                                  person=person, history=history, quiet=quiet,
                                  show_faces=show_faces)
    except KeyboardInterrupt:
        # Every file is written under a temporary name and renamed when complete, so an
        # interrupt leaves nothing partial under a final name (hiprom.media.sinks.AtomicFiles).
        raise interrupted() from None
    if history and not person and not quiet and failed < len(paths):
        out_console.print(NOT_SAVED, soft_wrap=True)
    if failed:
        if len(paths) > 1:
            err_console.print(f"{failed} of {len(paths)} inputs failed")
        raise typer.Exit(code=1)


def _output_stems(paths: list[Path]) -> list[tuple[Path, str]]:
    """Each input once, with the stem of its result files, unique within this run.

    A second mention of the same file is dropped (it is measured once). Inputs whose
    names differ only by folder, ending or case (``a/clip.mp4``, ``b/clip.mp4``,
    ``CLIP.mov``) would write the same files, the last one's replacing the others' (and on a
    case-insensitive disk ``CLIP.json`` is ``clip.json``); the second gets ``clip-2``, the
    third ``clip-3``.
    """
    seen: set[str] = set()
    taken: set[str] = set()
    unique: list[tuple[Path, str]] = []
    for path in paths:
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        stem = base = Path(path).stem
        n = 1
        while stem.casefold() in taken:
            n += 1
            stem = f"{base}-{n}"
        taken.add(stem.casefold())
        unique.append((path, stem))
    return unique


def _measure_all(paths: list[Path], out: Path, options: MeasureOptions, *, annotate: bool,
                 exports: tuple[ExportFormat, ...], person: str | None, history: bool,
                 quiet: bool, show_faces: bool = False) -> int:
    """Measure and write each input (its files as one set); returns how many failed."""
    from hiprom.media.document import result_document
    from hiprom.media.exports import write_exports
    from hiprom.media.outputs import unmatched_results, write_outputs
    from hiprom.media.sinks import AtomicFiles
    from hiprom.pipeline.measure import measure_path

    failed = 0
    for path, stem in _output_stems(paths):
        try:
            with _frame_progress(printable(Path(path).name), enabled=not quiet) as progress:
                m = measure_path(path, options=options, progress=progress)
            not_exported: list[str] = []
            with AtomicFiles() as files:  # JSON, CSV, images, exports: all or none
                written = write_outputs(m, out, annotate=annotate, files=files, stem=stem,
                                        blur_faces=not show_faces)
                if exports and m.source.kind == "still":
                    err_console.print(f"{printable(path)}: a photo has no per-frame series "
                                      "to export",
                                      soft_wrap=True)
                elif exports and m.valid:  # a refused input's angles are not a test's
                    for kind in exports:
                        try:
                            written += write_exports(m, out, (kind,), files=files, stem=stem)
                        except InputError as err:  # the others are still written
                            not_exported.append(f"no .{kind.value} written: {err}")
                unmatched = unmatched_results(out, stem, files)
            for other in unmatched:   # said even with --quiet and for a refused input
                err_console.print(Text.assemble(
                    ("note: ", "yellow"), f"{printable(other)} was not written by this run "
                    "and was left as it is: if an earlier run wrote it, it may not match "
                    f"{printable(Path(out) / (stem + '.json'))}"), soft_wrap=True)
            result = result_document(m)
            if history and person and m.valid:   # a refused input is nobody's test
                from hiprom.report.history import save_result

                save_result(result, person=person, json_path=written[0])
            if not m.valid:   # written for the record, but not a test: a failed input
                failed += 1
                fail(f"{path}: not the seated test: {m.protocol.reason if m.protocol else ''}"
                     + ("; nothing exported" if exports else ""))
                continue
            if not_exported:  # the result is written; the export asked for is not
                failed += 1
                for line in not_exported:
                    fail(f"{path}: {line}")
        except HipromError as err:
            failed += 1
            named = printable(path) in printable(err)   # messages may name it escaped
            fail(str(err) if named else f"{path}: {err}")
            continue
        except Exception as err:  # noqa: BLE001 - one bad file must not stop the others
            failed += 1
            log.debug("unexpected failure", exc_info=True)
            user = describe_os_error(err, out) if isinstance(err, OSError) else None
            fail(f"{path}: {user}" if user is not None else
                 f"{path}: internal error ({type(err).__name__}: {err}); please report it")
            continue
        if not quiet:
            _summary_table(result)
            out_console.print("wrote " + ", ".join(printable(p) for p in written),
                              soft_wrap=True)
    return failed


def _register_subcommands() -> None:
    """Add the commands that live in their own modules (live, batch, plan/report/history)."""
    import importlib

    for name in ("hiprom.cli.live", "hiprom.cli.batch", "hiprom.cli.plan",
                 "hiprom.cli.agreement", "hiprom.cli.app"):
        importlib.import_module(name).register(app)


_register_subcommands()


def main() -> None:
    """Entry point of the ``hiprom`` console script."""
    try:
        app()
    except HipromError as err:  # a command that did not catch its own
        raise SystemExit(fail(str(err)).exit_code) from None
    except OSError as err:
        message = describe_os_error(err)
        if message is None:
            raise
        raise SystemExit(fail(message).exit_code) from None
    except KeyboardInterrupt:
        raise SystemExit(interrupted().exit_code) from None


if __name__ == "__main__":
    main()

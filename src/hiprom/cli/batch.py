"""The ``hiprom batch`` command: parse flags, show progress, report failures, set the exit code.

Kept apart from :mod:`hiprom.cli.main` so the main CLI stays small; ``cli.py`` calls
:func:`register`. Exit codes: 0 when every input of the run is scored (now or in an
earlier run), 1 when at least one failed or the batch could not start.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from hiprom.backends.base import PoseModel
from hiprom.batch.run import BatchConfig, BatchReport, Job, run_batch
from hiprom.batch.store import OutcomeRecord
from hiprom.cli.common import (
    BLUR_FACES_DEFAULT,
    FAST_RETIRED,
    ModelOption,
    SecondNetworkOption,
    ShowFacesOption,
    SideOption,
    interrupted,
    out_dir,
    sampling_options,
)
from hiprom.cli.consoles import console as line_console
from hiprom.core.selection import PersonPolicy
from hiprom.errors import HipromError, describe_os_error, printable
from hiprom.pipeline.analysis import TestedSide

__all__ = ["BatchProgress", "batch", "register"]

log = logging.getLogger(__name__)


class BatchProgress:
    """A rich progress bar over the footage of a batch, with files done and an ETA.

    The bar advances by each finished file's declared frame count, so the ETA weighs long
    clips properly. It is disabled when ``disable`` is set or the console is not a
    terminal (logs and pipes get only the final summary).

    Args:
        console: where to draw.
        disable: draw nothing.
        get_time: monotonic clock in seconds (injectable for tests).

    """

    def __init__(self, console: Console, *, disable: bool = False,
                 get_time: Callable[[], float] = time.monotonic) -> None:
        self.progress = Progress(
            TextColumn("{task.description}", style="bold", markup=False), BarColumn(),
            TextColumn("{task.fields[files]}", markup=False),
            TextColumn("{task.fields[rate]}", markup=False),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, disable=disable or not console.is_terminal, get_time=get_time,
            transient=False,
        )
        self._get_time = get_time
        self._task: TaskID | None = None
        self._n_jobs = self._done = self._failed = self._frames = 0
        self._t0 = get_time()

    def __enter__(self) -> BatchProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(None, None, None)

    def _fields(self) -> dict[str, Any]:  # rich task fields: **fields: Any
        elapsed = max(1e-9, self._get_time() - self._t0)
        failed = f", {self._failed} failed" if self._failed else ""
        return {"files": f"{self._done}/{self._n_jobs} files{failed}",
                "rate": f"{self._frames / elapsed:.0f} frames/s"}

    def planned(self, jobs: Sequence[Job], n_skipped: int) -> None:
        """Start the bar once the jobs are known."""
        self._n_jobs = len(jobs)
        self._t0 = self._get_time()
        total = sum(max(1, job.expected_frames) for job in jobs)
        label = f"scoring ({n_skipped} already done)" if n_skipped else "scoring"
        self._task = self.progress.add_task(label, total=max(1, total), **self._fields())

    def advance(self, job: Job, outcome: OutcomeRecord) -> None:
        """Count one finished job."""
        self._done += 1
        self._failed += not outcome.ok
        self._frames += outcome.n_frames
        if self._task is not None:
            self.progress.update(self._task, advance=max(1, job.expected_frames),
                                 **self._fields())


def _print_report(report: BatchReport, out: Console, err: Console, *, quiet: bool) -> None:
    n_failed = len(report.failures)
    refused = report.refused
    if not quiet:
        count = report.tally()
        earlier = (f" ({count.failed_before} in an earlier run; --retry-failed tries again)"
                   if count.failed_before else "")
        same = (f"; {count.same_content} with the same content as another input (scored once)"
                if count.same_content else "")
        out.print(f"{report.n_inputs} inputs: {count.scored_now} scored now, "
                  f"{count.from_store} already in the store, {count.failed} failed{earlier}"
                  + same
                  + (f"; {len(refused)} not the seated test (no value)" if refused else ""))
        for name, reason in refused:   # scored, so not failures; but nothing to read
            out.print(f"  not the seated test: {printable(name)}: {printable(reason)}",
                      soft_wrap=True, markup=False, highlight=False)
        for path in report.exports:
            out.print(f"wrote {printable(path)}", soft_wrap=True)
    if n_failed:
        err.print(Text(f"{n_failed} input(s) failed:", style="bold red"))
        for failed, reason in report.failures:
            err.print(f"  {printable(failed)}: {printable(reason)}", soft_wrap=True,
                      markup=False, highlight=False)


#: SQLite reports these file-system conditions of the store in words, not errno.
_SQLITE_ERRNO = {"database or disk is full": errno.ENOSPC,
                 "attempt to write a readonly database": errno.EROFS}


def _file_system_message(err: OSError | sqlite3.OperationalError, out: Path) -> str | None:
    """One line for a file-system error in the output folder that the user can fix."""
    if isinstance(err, OSError):
        return describe_os_error(err, out)
    code = next((c for text, c in _SQLITE_ERRNO.items() if text in str(err)), None)
    return None if code is None else describe_os_error(OSError(code, str(err)), out)


def batch(
    sources: Annotated[list[str], typer.Argument(
        help="Folders (searched recursively), globs, video files, or a manifest CSV with a "
             "'path' column.", show_default=False)],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Output folder: store, results.csv, summary.html, per-video files "
        "[default: hiprom-batch].", show_default=False)] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Local worker processes [default: one per CPU core].")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help='Dask scheduler address (tcp://host:8786); needs pip install "hiprom[dask]".')
    ] = None,
    id_pattern: Annotated[str | None, typer.Option(
        help="Regex with a named group 'id' that finds the patient id in file names, "
             "e.g. '(?P<id>P\\d+)_'.")] = None,
    annotate: Annotated[bool, typer.Option(help="Write annotated videos.")] = False,
    show_faces: ShowFacesOption = False,
    blur_faces: Annotated[bool, typer.Option(
        "--blur-faces", hidden=True, help="Retired: faces are blurred by default.")] = False,
    mirrored: Annotated[bool, typer.Option(help="Inputs are mirrored (selfie) views.")] = False,
    subject: Annotated[PersonPolicy, typer.Option(
        help="Who to measure when several people are in view.")] = PersonPolicy.AUTO,
    model: ModelOption = PoseModel.FULL,
    second_network: SecondNetworkOption = False,
    side: SideOption = TestedSide.AUTO,
    every_frame: Annotated[bool, typer.Option(
        "--every-frame", help="Analyse every frame of each clip (the default samples clips "
        "adaptively: sparsely where nothing moves, every frame where the legs move; held "
        "angles within 0.5 deg of every frame, docs/PERFORMANCE.md). --annotate implies it.")
    ] = False,
    stride: Annotated[int, typer.Option(min=1, help="Analyse every N-th frame instead.")] = 1,
    fast: Annotated[bool, typer.Option(
        hidden=True, help="Retired: adaptive sampling is the default and faster.")] = False,
    retry_failed: Annotated[bool, typer.Option(
        help="Score again inputs that failed in an earlier run.")] = False,
    rescore: Annotated[bool, typer.Option(
        help="Score every input again, even those already in the store.")] = False,
    max_duration: Annotated[float | None, typer.Option(
        min=1.0, help="Refuse clips longer than this many seconds [default: no limit].")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary; "
                                        "only failures.")] = False,
) -> None:
    """Score many videos: resumable, parallel, one results table and a summary page.

    Exit code 0 when every input is scored, 1 when any failed (they are listed).
    """
    out_console = line_console()
    err_console = line_console(stderr=True)
    if fast:
        err_console.print(Text.assemble(("note: ", "yellow"), FAST_RETIRED), soft_wrap=True)
    if blur_faces:
        if show_faces:
            err_console.print(Text.assemble(("error: ", "bold red"), "--blur-faces and "
                                            "--show-faces contradict each other; drop one"),
                              soft_wrap=True)
            raise typer.Exit(code=1)
        err_console.print(Text.assemble(("note: ", "yellow"), BLUR_FACES_DEFAULT),
                          soft_wrap=True)
    options = sampling_options(every_frame=every_frame or annotate, stride=stride,
                               mirrored=mirrored, subject=subject, side=side, model=model,
                               second_network=second_network)
    try:
        out = out_dir(out, "hiprom-batch")
    except HipromError as err:
        err_console.print(Text.assemble(("error: ", "bold red"), printable(err)),
                          soft_wrap=True)
        raise typer.Exit(code=1) from None
    config = BatchConfig(
        sources=tuple(sources), out_dir=out, workers=workers, scheduler=scheduler,
        id_pattern=id_pattern, options=options, annotate=annotate, blur_faces=not show_faces,
        retry_failed=retry_failed, rescore=rescore,
        max_duration_s=max_duration,
    )
    try:
        with BatchProgress(err_console, disable=quiet) as progress:
            report = run_batch(config, on_planned=progress.planned, on_outcome=progress.advance)
    except HipromError as err:
        err_console.print(Text.assemble(("error: ", "bold red"), printable(err)),
                          soft_wrap=True)
        raise typer.Exit(code=1) from None
    except (OSError, sqlite3.OperationalError) as err:
        message = _file_system_message(err, out)
        if message is None:
            raise
        err_console.print(Text.assemble(("error: ", "bold red"), printable(message)),
                          soft_wrap=True)
        raise typer.Exit(code=1) from None
    except KeyboardInterrupt:
        # Committed inputs stay in the store; the workers were stopped and every per-video
        # file is renamed into place only when complete, so a rerun finishes the rest.
        raise interrupted() from None
    _print_report(report, out_console, err_console, quiet=quiet)
    raise typer.Exit(code=report.exit_code)


def register(app: typer.Typer) -> None:
    """Add the ``batch`` command to ``app``."""
    app.command("batch")(batch)

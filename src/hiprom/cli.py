"""The ``hiprom`` command line: a thin layer over :mod:`hiprom.pipeline` and friends.

Every command catches :class:`~hiprom.errors.HipromError` once, prints one red line to
stderr and exits with code 1; nothing prints a traceback for bad input.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from hiprom import __version__
from hiprom.errors import HipromError
from hiprom.selection import PersonPolicy

__all__ = ["app", "main"]

app = typer.Typer(
    name="hiprom",
    help="Measure seated hip internal rotation from a camera, video or photo.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("hiprom")
err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)


def _setup_logging(verbose: bool) -> None:
    # Native MediaPipe/TFLite logging goes straight to stderr; keep it quiet unless asked.
    os.environ.setdefault("GLOG_minloglevel", "0" if verbose else "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "2")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "INFO" if verbose else "ERROR")
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False, show_time=False)],
    )


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one red line to stderr and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return typer.Exit(code=code)


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


def _summary_table(result: dict) -> None:
    from rich.table import Table

    table = Table(title=Path(result["source"]["path"]).name, title_justify="left")
    for col in ("leg", "IR (held)", "±95%", "ER (held)", "verdict", "quality"):
        table.add_column(col)
    for side in ("left", "right"):
        leg = result["legs"][side]
        ir, ci, er = (leg["internal_rotation_deg"], leg["internal_rotation_ci95_deg"],
                      leg["external_rotation_deg"])
        table.add_row(
            side,
            "–" if ir is None else f"{ir:.1f}°",
            "–" if ci is None else f"{ci:.1f}°",
            "–" if er is None else f"{er:.1f}°",
            leg["verdict"]["code"].replace("_", " "),
            ", ".join(leg["quality"]) or "ok",
        )
    out_console.print(table)
    asym = result["asymmetry"]
    if asym.get("difference_deg") is not None:
        out_console.print(asym["sentence"])


@app.command()
def measure(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Video files or photos of the seated test.", show_default=False),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the result files.")] = Path(
        "hiprom-results"
    ),
    annotate: Annotated[
        bool, typer.Option(help="Also write an annotated video (.webm) or photo (.png).")
    ] = False,
    mirrored: Annotated[
        bool, typer.Option(help="The input is a mirrored (selfie) view.")
    ] = False,
    subject: Annotated[
        PersonPolicy, typer.Option(help="Who to measure when several people are in view.")
    ] = PersonPolicy.AUTO,
    stride: Annotated[int, typer.Option(min=1, help="Measure every N-th frame.")] = 1,
    fast: Annotated[bool, typer.Option(
        help="Measure about 15 frames per second of video instead of every frame.")] = False,
    person: Annotated[
        str, typer.Option("--person", help="Whose progress history the result is saved into.")
    ] = "default",
    history: Annotated[
        bool, typer.Option(help="Save the result into the person's history (hiprom history).")
    ] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
) -> None:
    """Measure hip rotation in videos or photos; writes <stem>.json and <stem>.csv per input."""
    from hiprom.measure import measure_path
    from hiprom.outputs import write_outputs
    from hiprom.pipeline import FAST_MAX_FPS, MeasureOptions

    options = MeasureOptions(mirrored=mirrored, person=subject, stride=stride,
                             max_fps=FAST_MAX_FPS if fast else None)
    failed = 0
    for path in paths:
        try:
            m = measure_path(path, options=options)
            written = write_outputs(m, out, annotate=annotate)
            result = m.to_dict()
            if history:
                from hiprom.history import save_result

                save_result(result, person=person, json_path=written[0])
        except HipromError as err:
            failed += 1
            fail(str(err) if str(path) in str(err) else f"{path}: {err}")
            continue
        except Exception as err:  # noqa: BLE001 - one bad file must not stop the others
            failed += 1
            log.debug("unexpected failure", exc_info=True)
            fail(f"{path}: internal error ({type(err).__name__}: {err}); please report it")
            continue
        if not quiet:
            _summary_table(result)
            out_console.print("wrote " + ", ".join(str(p) for p in written))
    if failed:
        if len(paths) > 1:
            err_console.print(f"{failed} of {len(paths)} inputs failed")
        raise typer.Exit(code=1)


def _register_subcommands() -> None:
    """Add the commands that live in their own modules (live, batch, plan/report/history)."""
    import importlib

    for name in ("hiprom._cli_live", "hiprom._cli_batch", "hiprom._cli_plan", "hiprom._cli_app"):
        importlib.import_module(name).register(app)


_register_subcommands()


def main() -> None:
    """Entry point of the ``hiprom`` console script."""
    try:
        app()
    except HipromError as err:  # a command that did not catch its own
        raise SystemExit(fail(str(err)).exit_code) from None
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()

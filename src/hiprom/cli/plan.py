"""The ``routines``, ``history`` and ``report`` commands; :func:`register` adds them to an app.

Thin: parse, call :mod:`hiprom.plan.routines`, :mod:`hiprom.report.history` or
:mod:`hiprom.report.html`,
print. Every :class:`~hiprom.errors.HipromError` becomes one red line on stderr and exit 1.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from hiprom.cli.common import PERSON_ENV
from hiprom.cli.consoles import console as line_console
from hiprom.cli.consoles import titled_table
from hiprom.errors import HipromError, InputError, describe_os_error, printable
from hiprom.media.sinks import write_bytes_atomic
from hiprom.plan.assessment import DEFAULT_CI95_DEG, LegInput
from hiprom.report.document import ReportFormat
from hiprom.vocabulary import Side

__all__ = ["register"]

F = TypeVar("F", bound=Callable[..., Any])
_PERSON_HELP = "Whose history (the name given to measure/live --person, or HIPROM_PERSON)."


def _fail(message: str) -> typer.Exit:
    """Print one red line via the main CLI and return the Exit to raise."""
    from hiprom.cli.main import fail  # late: cli.py imports this module

    return fail(message)


def _one_line_errors(func: F) -> F:
    """Turn HipromError and file-system errors into one red line and exit code 1."""
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except HipromError as err:
            raise _fail(str(err)) from None
        except OSError as err:
            raise _fail(describe_os_error(err) or f"{err.strerror or err} ({err.filename}); "
                        "check the path and permissions.") from None
    return wrapper  # type: ignore[return-value]


# ---------------------------------------------------------------------------- routines
def _leg(ir: float | None, er: float | None, ci: float | None, side: str) -> LegInput | None:
    """Return one leg's input from the flags, or None."""
    if ir is None:
        if er is not None or ci is not None:
            raise InputError(f"--{side}-er/--{side}-ci need --{side} (the IR angle); add it.")
        return None
    if er is not None and er < 0:
        raise InputError(f"--{side}-er is the external rotation as a positive number of degrees "
                         f"(40 for 40° of ER), got {er:g}; drop the minus sign.")
    from hiprom.plan.bands import check_angle, check_error

    # Checked here so that the message names the option the user typed, not a parameter.
    check_angle(ir, f"--{side}")
    if er is not None:
        check_angle(er, f"--{side}-er")
    if ci is not None:
        check_error(ci, f"--{side}-ci")
    return LegInput(ir, er, DEFAULT_CI95_DEG if ci is None else ci)


def _plan_inputs(result: Path | None, angles: dict[str, float | None],
                 compensation: list[str]) -> tuple[LegInput | None, LegInput | None, list[str]]:
    """Return (left, right, compensations) from a result file or from the angle flags."""
    from hiprom.plan.interpret import leg_inputs, result_compensations
    from hiprom.report.history import read_result

    given = [f"--{k.replace('_', '-')}" for k, v in angles.items() if v is not None]
    if result is not None:
        if given:
            raise InputError(f"Pass a result JSON or angles, not both (got {', '.join(given)}); "
                             "drop one.")
        data = read_result(result)
        from hiprom.media.document import refusal

        if (reason := refusal(data)) is not None:  # say why, not "neither leg measured"
            raise InputError(f"{result} is not the seated test ({reason}), so it has no "
                             "routine; measure the seated test again")
        left, right = leg_inputs(data)
        return left, right, [*result_compensations(data), *compensation]
    left = _leg(angles["left"], angles["left_er"], angles["left_ci"], "left")
    right = _leg(angles["right"], angles["right_er"], angles["right_ci"], "right")
    if left is None and right is None:
        raise InputError("No angles given; pass --left/--right IR in degrees or a result JSON.")
    return left, right, compensation


def _routines(
    result: Annotated[Path | None, typer.Argument(
        help="A result JSON from hiprom measure (instead of --left/--right).",
        dir_okay=False, show_default=False)] = None,
    left: Annotated[float | None, typer.Option(help="Left seated IR, degrees.")] = None,
    right: Annotated[float | None, typer.Option(help="Right seated IR, degrees.")] = None,
    left_er: Annotated[float | None, typer.Option(help="Left ER, positive degrees.")] = None,
    right_er: Annotated[float | None, typer.Option(help="Right ER, positive degrees.")] = None,
    left_ci: Annotated[float | None, typer.Option(
        help="Half-width of the left IR 95% interval (default 3.5°).")] = None,
    right_ci: Annotated[float | None, typer.Option(
        help="Half-width of the right IR 95% interval (default 3.5°).")] = None,
    compensation: Annotated[list[str] | None, typer.Option(
        help="Seen during the test: pelvis_roll, trunk_lean, knee_drift (repeatable).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="Check the input only: print nothing but errors.")] = False,
) -> None:
    """Print the routine and weekly schedule for given angles or a result file."""
    from hiprom.plan.routines import build_plan

    angles = {"left": left, "right": right, "left_er": left_er, "right_er": right_er,
              "left_ci": left_ci, "right_ci": right_ci}
    legs_l, legs_r, comps = _plan_inputs(result, angles, list(compensation or ()))
    plan = build_plan(legs_l, legs_r, compensations=comps)
    if quiet:
        return
    if as_json:
        typer.echo(json.dumps(plan.to_dict(), indent=2, ensure_ascii=False))
    else:
        typer.echo(plan.format_text(), nl=False)


# ---------------------------------------------------------------------------- history
def _fmt(value: float | None, ci: float | None = None) -> str:
    """Format an angle for the table."""
    if value is None:
        return "—"
    return f"{value:.1f}" + ("" if ci is None else f" ±{ci:.1f}")


def _history_table(entries: tuple[Any, ...], person: str) -> Table:
    """Return the trend table; a test that does not count for trends is marked."""
    table = titled_table(f"IR history of {printable(person)} (degrees; ± 95% interval; "
                         "* not in trends)")
    # On a narrow terminal the date, time and angles wrap at their spaces and the file name
    # and flags fold, rather than the last columns being squeezed to nothing.
    # (no minimum widths: rich then crops the last column instead of fitting the table)
    table.add_column("id", no_wrap=True)
    table.add_column("test (UTC)", overflow="fold")
    table.add_column("kind", no_wrap=True)
    for name in ("left IR", "right IR", "left ER", "right ER"):
        table.add_column(name, justify="right")
    table.add_column("source", overflow="fold")
    table.add_column("flags", overflow="fold")
    for e in entries:
        flags = list(dict.fromkeys(e.leg_quality(Side.LEFT) + e.leg_quality(Side.RIGHT)))
        if e.excluded:
            flags.insert(0, "excluded")
        table.add_row(str(e.id), f"{e.measured_at:%Y-%m-%d %H:%M}", e.source_kind or "?",
                      *(_fmt(e.ir_deg[s], e.ci95_deg[s]) + ("" if e.counts(s) else " *")
                        for s in Side),
                      *(_fmt(e.er_deg[s]) for s in Side),
                      printable(Path(e.source_path).name) if e.source_path else "—",
                      printable(", ".join(flags)) or "—")
    return table


def _history_json(entries: tuple[Any, ...], changes: dict[Side, Any]) -> str:
    """Return the history and the changes as JSON."""
    # ``id`` is what --delete, --exclude and --include take; ``in_trend`` says which values
    # the trend and the change use (as the table's asterisk and the plot's hollow markers).
    rows = [{"id": e.id, "measured_at": e.measured_at.isoformat(), "kind": e.kind,
             "source_path": e.source_path, "json_path": e.json_path, "excluded": e.excluded,
             **{f"{s.value}_ir_deg": e.ir_deg[s] for s in Side},
             **{f"{s.value}_ir_ci95_deg": e.ci95_deg[s] for s in Side},
             **{f"{s.value}_er_deg": e.er_deg[s] for s in Side},
             **{f"{s.value}_in_trend": e.counts(s) for s in Side},
             **{f"{s.value}_flags": list(e.leg_quality(s)) for s in Side}} for e in entries]
    diff = {s.value: None if c is None else {
        "previous_deg": c.previous_deg, "latest_deg": c.latest_deg, "delta_deg": c.delta_deg,
        "mdc95_deg": c.mdc95_deg, "combined_ci95_deg": c.combined_ci95_deg,
        "threshold_deg": c.threshold_deg, "limited_by": c.limited_by, "real": c.real,
        "sentence": c.sentence} for s, c in changes.items()}
    return json.dumps({"tests": rows, "change_since_last": diff}, indent=2, ensure_ascii=False)


def _history(
    person: Annotated[str | None, typer.Option(envvar=PERSON_ENV, help=_PERSON_HELP)] = None,
    plot: Annotated[Path | None, typer.Option(
        help="Also write the trend plot to this PNG file.", dir_okay=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the history as JSON.")] = False,
    where: Annotated[bool, typer.Option(
        "--where", help="Print where the history database is (HIPROM_HOME sets its folder) "
                        "and exit.")] = False,
    delete: Annotated[int | None, typer.Option(
        "--delete", metavar="ID", help="Delete the test with this id for good.")] = None,
    exclude: Annotated[int | None, typer.Option(
        "--exclude", metavar="ID", help="Keep the test but leave it out of trends.")] = None,
    include: Annotated[int | None, typer.Option(
        "--include", metavar="ID", help="Take an excluded test back into trends.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
) -> None:
    """Show the IR trend per leg and whether the change since the last test is real."""
    from hiprom.report.history import (
        DEFAULT_PERSON,
        changes_since_last,
        default_db_path,
        delete_result,
        load_history,
        set_excluded,
    )

    if where:
        typer.echo(printable(default_db_path()))
        return
    name = person or DEFAULT_PERSON
    if plot is not None:   # before anything is changed
        _check_target(plot, (".png",), "plot")
        _check_suffix(plot, (".png",), "the PNG plot", "--plot")
    if delete is not None:
        delete_result(name, delete)
    if exclude is not None:
        set_excluded(name, exclude, True)
    if include is not None:
        set_excluded(name, include, False)
    entries = load_history(name)
    if quiet and plot is None:
        return
    changes = changes_since_last(entries)
    if plot is not None:
        from hiprom.report.html import build_history_plot_png

        write_bytes_atomic(plot, build_history_plot_png(entries, person=name))
    if quiet:
        return
    if as_json:
        typer.echo(_history_json(entries, changes))
        return
    console = line_console()
    console.print(_history_table(entries, name))
    found = [c.sentence for c in changes.values() if c is not None]
    console.print(*(found or ["Only one test per leg so far; re-test in 2–4 weeks."]), sep="\n",
                  soft_wrap=True)
    if plot is not None:
        console.print(f"Plot written to {printable(plot)}", soft_wrap=True)


# ---------------------------------------------------------------------------- outputs
def _check_target(target: Path, suffixes: tuple[str, ...], what: str,
                  source: Path | None = None) -> None:
    """Refuse to write over the file read (``source``) or over an existing file of another kind.

    A report or plot may replace an earlier one (a file with one of ``suffixes``), never a
    result JSON, its CSV or key frame, or anything else the user typed by mistake.

    Raises:
        InputError: ``target`` is ``source`` or an existing file with another suffix.

    """
    same = source is not None and target.exists() and source.exists() and (
        target.samefile(source))
    if same or (target.is_file() and target.suffix.lower() not in suffixes):
        kinds = " or ".join(filter(None, (", ".join(suffixes[:-1]), suffixes[-1])))
        raise InputError(f"{target} already exists and is not a {what}; writing the {what} "
                         f"there would overwrite it. Name the {what} {kinds} (e.g. "
                         f"{target.with_suffix(suffixes[0]).name}).")


def _check_suffix(target: Path, suffixes: tuple[str, ...], what: str, option: str,
                  hint: str = "") -> None:
    """Refuse a file name whose ending says another format than the one written.

    A PDF named ``.html``, an HTML report named ``.pdf`` or ``.txt``, or a PNG named ``.jpg``
    opens in the wrong program or not at all. ``hint`` ends the message (another way to get
    what the name asks for).

    Raises:
        InputError: ``target``'s suffix is not one of ``suffixes``.

    """
    if target.suffix.lower() not in suffixes:
        ending = f"ends in {target.suffix}" if target.suffix else "has no file ending"
        raise InputError(f"{option} {target} {ending}, but {what} is written there; name it "
                         f"{target.with_suffix(suffixes[0]).name}{hint}")


# ---------------------------------------------------------------------------- report
def _slug(name: str) -> str:
    """Return ``name`` made safe for a file name."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "person"


def _report(
    result: Annotated[Path | None, typer.Argument(
        help="The result JSON to report (default: the person's latest test).",
        dir_okay=False, show_default=False)] = None,
    person: Annotated[str | None, typer.Option(
        envvar=PERSON_ENV, help="Add this person's history trend (and use their latest test "
        "if no JSON is given).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="File to write (default: <stem>.html or .pdf beside the JSON, or "
             "hiprom-report-<person>.html); a .pdf name writes a PDF.", dir_okay=False)] = None,
    format: Annotated[ReportFormat | None, typer.Option(
        "--format", help="html or pdf (default: the --out suffix, else html).")] = None,
    pdf: Annotated[bool, typer.Option("--pdf", help="Short for --format pdf.")] = False,
    clinician: Annotated[str | None, typer.Option(help="Who tested, for the header.")] = None,
    clinic: Annotated[str | None, typer.Option(help="Where, for the header.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
) -> None:
    """Write a self-contained report: HTML, or a PDF of at most 3 A4 pages for one test."""
    from hiprom.report.document import write_report

    if result is None and person is None:
        raise InputError("Nothing to report: pass a result JSON, or --person NAME (or set "
                         "HIPROM_PERSON) to report that person's latest test.")
    kind = ReportFormat.PDF if pdf else format
    if kind is None:
        kind = ReportFormat.PDF if out is not None and out.suffix.lower() == ".pdf" else (
            ReportFormat.HTML)
    target = out or (result.with_suffix(f".{kind.value}") if result is not None
                     else Path(f"hiprom-report-{_slug(str(person))}.{kind.value}"))
    _check_target(target, (".html", ".htm", ".pdf"), "report", source=result)
    if out is not None:
        pdf_wanted = kind is ReportFormat.PDF
        _check_suffix(out, (".pdf",) if pdf_wanted else (".html", ".htm"),
                      f"the {kind.value.upper()} report", "--out",
                      hint="" if pdf_wanted else " (or pass --pdf for a PDF)")
    write_report(result, target, format=kind, person=person, clinician=clinician,
                 clinic=clinic)
    if not quiet:
        typer.echo(f"Report written to {printable(target)}")


def register(app: typer.Typer) -> None:
    """Add the ``routines``, ``history`` and ``report`` commands to ``app``."""
    app.command("routines")(_one_line_errors(_routines))
    app.command("history")(_one_line_errors(_history))
    app.command("report")(_one_line_errors(_report))

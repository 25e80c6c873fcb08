"""The ``agreement`` command; :func:`register` adds it to an app.

Thin: parse, call :func:`hiprom.agreement.run_agreement` and
:func:`~hiprom.agreement.write_agreement`, print a summary. Every
:class:`~hiprom.errors.HipromError` (and a file-system error) becomes one red line on stderr
and exit 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import Enum
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape as _markup_escape
from rich.table import Table

from hiprom.cli.common import out_dir
from hiprom.cli.consoles import console as line_console
from hiprom.cli.consoles import titled_table
from hiprom.errors import HipromError, describe_os_error, printable

if TYPE_CHECKING:
    from hiprom.agreement import AgreementReport
    from hiprom.agreement.stats import AgreementStats, Estimate

__all__ = ["register"]

F = TypeVar("F", bound=Callable[..., Any])
_LIST_ROWS = 20


def escape(text: object) -> str:
    """User text (paths, raters, notes) for this markup console: no markup, no control codes."""
    return _markup_escape(printable(text))


class ByColumn(str, Enum):
    """Reference columns the figures can be split by."""

    CAMERA = "camera"
    RATER = "rater"
    METHOD = "method"


def _one_line_errors(func: F) -> F:
    """Turn HipromError and file-system errors into one red line and exit code 1."""
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from hiprom.cli.main import err_console, fail  # late: main registers this module

        try:
            return func(*args, **kwargs)
        except HipromError as err:  # fail() prints plain text: brackets survive
            stop = fail(str(err))
            for line in getattr(err, "details", ()):  # each reading that did not pair
                err_console.print("  " + printable(line), soft_wrap=True, markup=False,
                                  highlight=False)
            raise stop from None
        except OSError as err:
            raise fail(describe_os_error(err) or f"{err.strerror or err} ({err.filename}); "
                       "check the path and permissions.") from None
    return wrapper  # type: ignore[return-value]


def _deg(value: float | None, digits: int = 1, unit: str = "°", sign: bool = False) -> str:
    if value is None:
        return "—"
    text = f"{value:+.{digits}f}{unit}" if sign else f"{value:.{digits}f}{unit}"
    return text.replace("-", "−")


def _ci(est: Estimate, digits: int = 1, unit: str = "°") -> str:
    if est.ci95 is None:
        return ""
    return f"{_deg(est.ci95[0], digits, unit)} to {_deg(est.ci95[1], digits, unit)}"


def _figures_table(stats: AgreementStats, title: str) -> Table:
    """Return the key figures: value, 95% interval and n per row."""
    ba = stats.bland_altman
    table = titled_table(title, markup=True)
    for name, justify in (("figure", "left"), ("value", "right"), ("95% CI", "right"),
                          ("n", "right")):
        table.add_column(name, justify=justify, no_wrap=name != "figure")  # type: ignore[arg-type]
    rows: list[tuple[str, Estimate, int, str, bool]] = [
        ("bias (hiprom − reference)", ba.bias_deg, 1, "°", True),
        ("lower limit of agreement", ba.loa_low_deg, 1, "°", True),
        ("upper limit of agreement", ba.loa_high_deg, 1, "°", True),
        ("proportional bias (slope of d on mean)", ba.slope, 3, "°/°", True),
        ("mean absolute difference", stats.mean_abs_diff_deg, 1, "°", False),
        ("SEM = SD(d)/√2", stats.sem_deg, 1, "°", False),
        ("MDC95 = 1.96·√2·SEM", stats.mdc95_deg, 1, "°", False),
    ]
    if stats.icc is not None:
        rows += [("ICC(2,1) absolute agreement", stats.icc.icc_2_1, 3, "", False),
                 ("ICC(3,1) consistency", stats.icc.icc_3_1, 3, "", False)]
    for name, est, digits, unit, sign in rows:
        table.add_row(name, _deg(est.value, digits, unit, sign), _ci(est, digits, unit),
                      str(est.n))
    return table


def _list_table(title: str, head: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    table = titled_table(f"{title} ({len(rows)})", markup=True)
    for name in head:
        table.add_column(name, overflow="fold")
    for row in rows[:_LIST_ROWS]:
        table.add_row(*(escape("" if v is None else str(v)) for v in row))
    if len(rows) > _LIST_ROWS:
        table.add_row(f"… {len(rows) - _LIST_ROWS} more in agreement.json", *[""] * (len(head) - 1))
    return table


def _print_lists(console: Console, report: AgreementReport) -> None:
    m = report.matching
    def who(r: dict[str, Any]) -> str:
        extra = "".join(f", {k} {r[k]}" for k in ("session", "rater", "method") if r.get(k))
        return f"{r.get('path') or r.get('patient_id')} {r['leg']}{extra}"

    lists: list[tuple[str, tuple[str, ...], list[tuple[object, ...]]]] = [
        ("Reference rows with no hiprom result", ("line", "reading", "reason"),
         [(r["line"], who(r), r["reason"]) for r in m.unmatched_reference]),
        ("Excluded (not a valid measurement)", ("line", "reading", "reason"),
         [(r["line"], who(r), r["reason"]) for r in m.excluded]),
        ("Duplicated (none compared)", ("side", "key", "where", "reason"),
         [(d["side"], ", ".join(f"{k} {v}" for k, v in d["key"].items() if v is not None),
           ", ".join(map(str, d.get("lines") or d.get("where", ()))), d["reason"])
          for d in m.duplicates]),
        ("hiprom legs without a reference reading", ("input", "leg", "IR", "note"),
         [(h["source"], h["leg"], _deg(h["ir_deg"]), h["excluded_reason"] or "")
          for h in m.unmatched_hiprom]),
    ]
    for title, head, rows in lists:
        if rows:
            console.print(_list_table(title, head, rows))


def _print_summary(console: Console, report: AgreementReport) -> None:
    """Print the key figures, reliability, groups and the pairing lists."""
    from hiprom.agreement.stats import FEW_PAIRS, few_pairs_note

    o, m = report.overall, report.matching
    name = escape(Path(report.reference).name)
    console.print(_figures_table(o, f"Agreement of hiprom with {name} ({o.n_pairs} pairs, "
                                    f"{o.n_subjects} people; degrees)"))
    ba = o.bland_altman
    if o.n_pairs < FEW_PAIRS:
        console.print(f"[bold]note[/]: {few_pairs_note(o)}", soft_wrap=True)
    if ba.proportional_bias:
        console.print(f"[bold]proportional bias[/]: the difference changes with the angle "
                      f"(p = {ba.slope_p:.3g}); one pair of limits does not fit the whole range.",
                      soft_wrap=True)
    for block in report.reliability:
        if block.icc is None:
            console.print(f"{escape(block.title)}: not computed ({escape(block.reason or '')})",
                          soft_wrap=True)
            continue
        console.print(f"{escape(block.title)}: ICC(2,1) {_deg(block.icc.icc_2_1.value, 3, '')} "
                      f"({_ci(block.icc.icc_2_1, 3, '')}), ICC(3,1) "
                      f"{_deg(block.icc.icc_3_1.value, 3, '')}, SEM "
                      f"{_deg(block.sem_deg.value if block.sem_deg else None)}, MDC95 "
                      f"{_deg(block.mdc95_deg.value if block.mdc95_deg else None)}, "
                      f"n = {block.icc.n_targets} targets", soft_wrap=True)
    for group in report.groups:
        label = f"{report.by} {group.name}"
        if group.stats is None:
            console.print(f"{escape(label)}: {group.n_pairs} pair(s), not analysed "
                          f"({escape(group.reason or '')})", soft_wrap=True)
        else:
            console.print(_figures_table(group.stats, escape(label)))
    console.print(f"{m.n_reference_rows} reference rows, {m.n_hiprom_legs} hiprom legs: "
                  f"{len(m.pairs)} paired, {len(m.unmatched_reference)} unmatched, "
                  f"{len(m.excluded)} excluded, {len(m.duplicates)} duplicated keys, "
                  f"{len(m.unmatched_hiprom)} hiprom legs without a reading", soft_wrap=True)
    _print_lists(console, report)


def _agreement(
    results: Annotated[Path, typer.Argument(
        help="hiprom's values: a batch results.csv, or a folder of result JSONs "
             "(hiprom measure / batch output).", show_default=False)],
    reference: Annotated[Path, typer.Argument(
        help="CSV of criterion readings: patient_id or path, leg, reference_deg; optional "
             "rater, session, method, camera.", show_default=False)],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Folder for agreement.json, agreement.html and the plots "
        "[default: hiprom-agreement].", show_default=False)] = None,
    by: Annotated[ByColumn | None, typer.Option(
        help="Also give the figures per camera, rater or method (a reference column).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
) -> None:
    """Compare hiprom with a criterion (goniometer, inclinometer...): Bland–Altman, ICC, MDC."""
    from hiprom.agreement import run_agreement, write_agreement

    out = out_dir(out, "hiprom-agreement")  # before the inputs are read and matched
    report = run_agreement(results, reference, by=None if by is None else by.value)
    written = write_agreement(report, out)
    if quiet:
        return
    console = line_console(markup=True)  # every user string in it is escape()d
    _print_summary(console, report)
    console.print(f"wrote {escape(str(out))}: " + ", ".join(escape(p.name) for p in written),
                  soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the ``agreement`` command to ``app``."""
    app.command("agreement")(_one_line_errors(_agreement))

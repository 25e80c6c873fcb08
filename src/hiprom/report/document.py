"""One call from a result to a report file: HTML, or the same page printed to PDF.

PDF is made with WeasyPrint (``pip install "hiprom[pdf]"``): a maintained, pure-Python
CSS-paged-media engine on Debian's pango, so a report prints the same on every machine
without a browser, and its ``@page`` and ``break-inside`` rules keep figures whole. It is
given a URL fetcher that refuses everything but the report's own ``data:`` images, so
printing never touches the network.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from hiprom.errors import InputError, MissingExtraError
from hiprom.media.sinks import write_bytes_atomic
from hiprom.report.html import build_report, load_report_inputs

__all__ = ["ReportFormat", "html_to_pdf", "write_report"]


class ReportFormat(StrEnum):
    """File formats of a report."""

    HTML = "html"
    PDF = "pdf"


def html_to_pdf(html: str) -> bytes:
    """Print a report's HTML to A4 PDF bytes (its print stylesheet applies).

    Raises:
        MissingExtraError: WeasyPrint or the pango library it needs is not installed.

    """
    try:
        import weasyprint
    except ImportError as err:
        raise MissingExtraError(
            'PDF reports need WeasyPrint: pip install "hiprom[pdf]" (or write HTML and '
            "print it from a browser)") from err
    except OSError as err:  # the package is there, its pango library is not
        raise MissingExtraError(
            "PDF reports need the pango library: apt-get install libpango-1.0-0 "
            f"libpangoft2-1.0-0 ({err})") from err
    from weasyprint.urls import FatalURLFetchingError, URLFetcher

    # The report embeds every image as a data: URL; any other URL is refused outright.
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    # WeasyPrint warns about CSS it does not support (browser-only rules of the same
    # stylesheet, e.g. font-weight 650); that is for us, not for the person printing.
    css_log = logging.getLogger("weasyprint")
    level = css_log.level
    css_log.setLevel(logging.ERROR)
    try:
        pdf = weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf()
    except FatalURLFetchingError as err:
        raise InputError(f"{err}: reports embed every image and load nothing else") from None
    finally:
        css_log.setLevel(level)
    assert pdf is not None  # write_pdf() without a target returns the bytes
    return bytes(pdf)


def _has_history(person: str) -> bool:
    from hiprom.report.history import load_history

    try:
        return bool(load_history(person))
    except InputError:
        return False


def _format_of(path: Path, format: ReportFormat | str | None) -> ReportFormat:
    if format is not None:
        try:
            return ReportFormat(str(format).lower())
        except ValueError:
            raise InputError(f"unknown report format {format!r}; use html or pdf") from None
    return ReportFormat.PDF if path.suffix.lower() == ".pdf" else ReportFormat.HTML


def write_report(
    result: Mapping[str, Any] | str | Path | None,
    path: str | Path,
    *,
    format: ReportFormat | str | None = None,
    person: str | None = None,
    clinician: str | None = None,
    clinic: str | None = None,
) -> Path:
    """Write the report of one result to ``path`` (whole or not at all); returns the path.

    Args:
        result: a result JSON file (its CSV and key frame beside it are used), a result
            dict as ``result_document`` gives it, or None for ``person``'s latest test.
        path: the file to write.
        format: ``"html"`` or ``"pdf"``; by default the suffix of ``path`` decides.
        person: the person's name for the header (and their history, when a file is given).
        clinician: who tested, for the header.
        clinic: where, for the header.

    """
    target = Path(path)
    kind = _format_of(target, format)
    if result is None or isinstance(result, str | Path):
        # A named person without a history still heads the report of a given file.
        known = result is None or (person is not None and _has_history(person))
        inputs = load_report_inputs(result, person=person if known else None)
        html = build_report(inputs.result, series=inputs.series,
                            keyframe_png=inputs.keyframe_png, history=inputs.history,
                            person=person, measured_at=inputs.measured_at,
                            clinician=clinician, clinic=clinic)
    else:
        html = build_report(result, person=person, clinician=clinician, clinic=clinic)
    data = html_to_pdf(html) if kind is ReportFormat.PDF else html.encode("utf-8")
    return write_bytes_atomic(target, data)

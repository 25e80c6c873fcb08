"""One small exception hierarchy; the CLI catches :class:`HipromError` once.

Every message states what was wrong and what to do about it, in one line.
"""

from __future__ import annotations

import errno
import os
import re

__all__ = [
    "BackendError",
    "HipromError",
    "InputError",
    "MeasurementError",
    "SourceError",
    "describe_os_error",
    "is_utf8_path",
    "printable",
]


class HipromError(Exception):
    """Base class of every error hiprom raises on purpose."""


class SourceError(HipromError):
    """A video, image or camera could not be opened or read."""


class BackendError(HipromError):
    """The pose model is missing, corrupt, or failed to run."""


class InputError(HipromError):
    """An argument or file has the wrong shape, type or content."""


class MeasurementError(HipromError):
    """The input was read but nothing measurable was found (no person, legs out of frame...)."""


class MissingExtraError(HipromError, ImportError):
    """An optional dependency (an ``hiprom[...]`` extra) is not installed."""


class StoreError(HipromError):
    """The results store cannot be opened or has an unknown schema."""


class LiveError(SourceError):
    """The camera failed before or during a live session (reps measured so far are saved)."""


class CameraDisconnected(SourceError):
    """The camera stopped delivering frames in the middle of a stream."""


class SinkError(HipromError):
    """An output file could not be written."""


#: File-system errors that are the user's to fix: what went wrong, and what to do.
_USER_OS_ERRORS: dict[int, str] = {
    errno.EACCES: "{path}: permission denied; pick a location you may write to, or fix its "
                  "permissions",
    errno.EPERM: "{path}: operation not permitted; pick a location you may write to, or fix "
                 "its permissions",
    errno.EROFS: "{path} is on a read-only file system; pick a location on a writable disk",
    errno.ENOSPC: "no space left on the disk of {path}; free some space or pick a location on "
                  "another disk",
    errno.EDQUOT: "disk quota exceeded at {path}; free some space or pick a location on "
                  "another disk",
    errno.ENOTDIR: "{path}: part of this path is a file, not a folder; pick a folder path or "
                   "move the file away",
    errno.EEXIST: "{path} is a file where a folder is needed; pick a folder path or move the "
                  "file away",
    errno.EISDIR: "{path} is a folder where a file is needed; pick a file path",
    errno.ENOENT: "{path} does not exist; check the path",
    errno.ENAMETOOLONG: "{path}: the name is too long; pick a shorter path",
}


def describe_os_error(err: OSError, path: str | os.PathLike[str] | None = None) -> str | None:
    """One line for a file-system error the user can fix, or None when it is not one.

    Args:
        err: the error, e.g. from writing a result file.
        path: where the caller was writing, named when ``err`` carries no file name (a
            full disk surfaces on ``write()``, which knows no path).

    Examples:
        >>> describe_os_error(OSError(errno.ENOSPC, "No space left on device"), "out")
        'no space left on the disk of out; free some space or pick a location on another disk'
        >>> describe_os_error(OSError(errno.EIO, "Input/output error")) is None
        True

    """
    template = _USER_OS_ERRORS.get(err.errno or 0)
    if template is None:
        return None
    where = err.filename if err.filename is not None else path
    if where is None:
        return template.format(path="the output")
    name = os.fsdecode(where)
    final = _final_name(name)
    if err.errno == errno.ENOENT and final != name:
        # Creating our own temporary file failed: its folder was there (it is checked
        # first), so the folder does not take new files (/proc, a vanished mount).
        folder = os.path.dirname(final) or "."
        return f"{final} cannot be created: nothing can be created in {folder}; pick another folder"
    return template.format(path=final)


#: The temporary name a file is written under before it is renamed into place
#: (``hiprom.media.sinks.AtomicFiles``: ``.<stem>.<8 random characters>.part<suffix>``).
_PART_NAME = re.compile(r"\.(?P<stem>.+)\.[a-z0-9_]{8}\.part(?P<suffix>\.[^./]*)?")


def _final_name(path: str) -> str:
    """``path`` with a temporary part file's name replaced by the file it becomes.

    Examples:
        >>> _final_name("/out/.r.j85o9fiv.part.html")
        '/out/r.html'
        >>> _final_name("/out/r.html")
        '/out/r.html'

    """
    head, sep, name = path.rpartition("/")
    match = _PART_NAME.fullmatch(name)
    if match is None:
        return path
    return f"{head}{sep}{match['stem']}{match['suffix'] or ''}"


def is_utf8_path(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is UTF-8 text.

    A name with other bytes (Latin-1 names from an old share) reaches Python as lone
    surrogates, which OpenCV's path arguments crash on (SIGSEGV) and the result files cannot
    record.
    """
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


#: Invisible characters that reorder what the terminal shows (Trojan Source); shown escaped.
_BIDI_CONTROLS = frozenset({0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F),
                            *range(0x2066, 0x206A)})


def printable(text: object) -> str:
    r"""``text`` (a str, path or bytes) safe to print on a terminal as part of one line.

    User text (file names, person names) can hold control characters: an ANSI escape
    sequence would recolour, clear or retitle the terminal, a newline or carriage return
    would forge or hide a line. Each C0/C1 control character, DEL and bidirectional control
    is shown as its escape (``\x1b``, ``\u202e``); a byte of a file name that is not
    UTF-8 (decoded by Python as a lone surrogate) as ``\xNN``. Anything else is unchanged.

    Examples:
        >>> printable("clip\x1b[31m.mp4")
        'clip\\x1b[31m.mp4'
        >>> printable(os.fsdecode(b"caf\xe9.mp4"))
        'caf\\xe9.mp4'

    """
    if isinstance(text, bytes | os.PathLike):
        text = os.fsdecode(text)
    value = str(text)
    if value.isprintable() and value.isascii():
        return value
    out = []
    for ch in value:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:       # an undecodable byte (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            out.append(f"\\x{code:02x}")
        elif code in _BIDI_CONTROLS or 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)

"""Output sinks: CSV rows, JSON documents, annotated video and stills, all written atomically.

Every file is written under a temporary name beside its target (:func:`atomic_path`,
:class:`AtomicFiles`) and renamed into place, after an ``fsync``, only when it is complete;
on any exception, ``KeyboardInterrupt`` included, the temporary file is removed. A failed or
interrupted run therefore never leaves a half-written file under a final name. Files that
belong together (a measurement's JSON, CSV, key frame and video) are written as one set:
all to temporary names first, then all renamed. Finished files get the mode a plain
``open()`` would give them (``0666`` less the umask).

Text cells of every CSV go through :func:`csv_text` (OWASP's defence against formula
injection); numbers stay numbers.

Browser playback: the OpenCV wheels can encode VP8/VP9 (WebM) and MPEG-4 Part 2 (``mp4v``)
but not H.264. Browsers play WebM but not ``mp4v``, so ``.webm`` (VP8) is the default for
annotated video. VP9 is smaller but was measured about 7x slower to encode (see
:data:`VIDEO_CODECS`).
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import errno
import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import cv2
import numpy as np
import numpy.typing as npt

from hiprom._native import native_stderr_silenced
from hiprom.errors import InputError, SinkError, is_utf8_path, printable

__all__ = [
    "AtomicFiles",
    "CsvSink",
    "JsonSink",
    "VIDEO_CODECS",
    "VideoSink",
    "atomic_path",
    "csv_text",
    "from_csv_text",
    "remove_stale_parts",
    "to_jsonable",
    "write_bytes_atomic",
    "write_image",
    "write_json_atomic",
]

logger = logging.getLogger(__name__)

#: fourcc per codec name. Encode cost measured on the 2-core dev machine (ms/frame at
#: 640x480 / 1280x720): VP8 16 / 45, VP9 117 / 240, mp4v 1 / 2.4.
VIDEO_CODECS: dict[str, str] = {"vp8": "VP80", "vp9": "VP90", "mp4v": "mp4v"}
_DEFAULT_CODEC = {".webm": "vp8", ".mp4": "mp4v"}


def _umask() -> int:
    """The process umask, read without changing it where the system allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: A folder's fsync may be refused by the file system (not supported there); that is not a
#: failed write. A file's fsync error (a full disk, an I/O error) always is.
_FOLDER_FSYNC_REFUSED = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EBADF, errno.EACCES,
                                   errno.EPERM, errno.EISDIR})


def _fsync(path: Path, *, folder: bool = False) -> None:
    """Flush ``path`` to disk; for a folder, a file system that refuses is not an error."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as err:
        if folder and err.errno in _FOLDER_FSYNC_REFUSED:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as err:
        if not (folder and err.errno in _FOLDER_FSYNC_REFUSED):
            raise
    finally:
        os.close(fd)


class AtomicFiles:
    """A set of files written under temporary names and renamed into place together.

    :meth:`path` returns a fresh temporary name beside each final name (same folder, same
    suffix, so writers that choose a format by the suffix still work). Leaving the ``with``
    block cleanly flushes every temporary file, gives it the normal file mode and renames
    it; leaving it with an exception (``KeyboardInterrupt`` included) removes them all, so
    no final name is touched. If a rename fails half-way, the files already renamed in this
    set are removed too: the set is all or nothing.

    Examples:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp())
        >>> with AtomicFiles() as files:
        ...     _ = files.path(out / "a.txt").write_text("a")
        ...     _ = files.path(out / "b.txt").write_text("b")
        >>> sorted(p.name for p in out.iterdir())
        ['a.txt', 'b.txt']

    """

    def __init__(self) -> None:
        self._temps: dict[Path, Path] = {}
        self._closed = False

    def path(self, final: str | Path) -> Path:
        """Return a new temporary path for ``final`` (creating its folder)."""
        if self._closed:
            raise SinkError("this AtomicFiles set is already closed; start a new one")
        target = Path(final)
        self.discard(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".part{target.suffix}",
                                   dir=target.parent)
        os.close(fd)
        self._temps[target] = Path(tmp)
        return Path(tmp)

    def pending(self, final: str | Path) -> bool:
        """Whether ``final`` will be created when the set is committed."""
        return Path(final) in self._temps

    def discard(self, final: str | Path) -> None:
        """Drop ``final`` from the set and remove its temporary file."""
        tmp = self._temps.pop(Path(final), None)
        if tmp is not None:
            tmp.unlink(missing_ok=True)

    def abort(self) -> None:
        """Remove every temporary file; no final name is touched."""
        self._closed = True
        for final in list(self._temps):
            self.discard(final)

    def commit(self) -> list[Path]:
        """Flush and rename every temporary file into place; returns the final paths."""
        self._closed = True
        mode = 0o666 & ~_umask()
        done: list[Path] = []
        try:
            for tmp in self._temps.values():
                _fsync(tmp)
                os.chmod(tmp, mode)
            for final, tmp in list(self._temps.items()):
                os.replace(tmp, final)
                del self._temps[final]
                done.append(final)
            for folder in {p.parent for p in done}:
                _fsync(folder, folder=True)
        except BaseException:
            for final in done:  # all or nothing: a set is never left half in place
                final.unlink(missing_ok=True)
            self.abort()
            raise
        return done

    def __enter__(self) -> AtomicFiles:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


@contextmanager
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; it becomes ``final`` when the block ends cleanly.

    The temporary file is flushed to disk, given the normal file mode (``0666`` less the
    umask) and renamed over ``final``; on any exception it is removed instead.

    Examples:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
        >>> with atomic_path(out) as tmp:
        ...     _ = tmp.write_text("done")
        >>> out.read_text()
        'done'

    """
    with AtomicFiles() as files:
        yield files.path(final)


def remove_stale_parts(folder: str | Path) -> int:
    """Remove temporary files that a killed writer left in ``folder``; returns how many.

    Only names :class:`AtomicFiles` makes (``.<stem>.<random>.part<suffix>``) are touched.
    Call it only where no other writer can be at work (the batch holds its folder's lock).
    """
    removed = 0
    for path in Path(folder).glob(".*.part*"):
        if path.is_file() and re.fullmatch(r"\..+\.[^.]+\.part(\.[^.]*)?", path.name):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _write_bytes(path: Path, data: bytes, group: AtomicFiles | None) -> None:
    """Write ``data`` to ``path`` atomically, alone or as part of ``group``."""
    if group is not None:
        group.path(path).write_bytes(data)
        return
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_bytes_atomic(path: str | Path, data: bytes, *,
                       group: AtomicFiles | None = None) -> Path:
    """Write ``data`` to ``path`` via a temporary file and an atomic rename; returns ``path``.

    With ``group`` the file is renamed into place when that set is committed.
    """
    target = Path(path)
    _write_bytes(target, data, group)
    return target


#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str) -> str:
    """Return a text cell that no spreadsheet runs as a formula.

    Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
    single quote, as OWASP advises; anything else is returned unchanged. Only text goes
    through here: numbers (a negative angle included) are written as numbers.

    Examples:
        >>> csv_text("=cmd|' /C calc'!A0"), csv_text("P017"), csv_text("-3")
        ("'=cmd|' /C calc'!A0", 'P017', "'-3")

    """
    return "'" + value if value.startswith(_FORMULA_START) else value


def from_csv_text(cell: str) -> str:
    """Undo :func:`csv_text`: the text hiprom meant, for a reader of its own CSV.

    Examples:
        >>> from_csv_text("'=1+1"), from_csv_text("'quoted"), from_csv_text("P017")
        ('=1+1', "'quoted", 'P017')

    """
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_START) else cell


def to_jsonable(obj: Any) -> Any:
    """Convert ``obj`` into plain JSON types: NaN/inf → ``None``, numpy → Python.

    Handles dicts, lists/tuples, numpy arrays and scalars, dataclasses, objects with a
    ``to_dict()`` method, enums and paths.

    Examples:
        >>> to_jsonable({"a": float("nan"), "b": (1, 2.5)})
        {'a': None, 'b': [1, 2.5]}

    """
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, enum.Enum):
        return to_jsonable(obj.value)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    raise InputError(f"Cannot write {type(obj).__name__} to JSON; convert it to a dict first.")


def write_json_atomic(path: str | Path, obj: Any, *, indent: int | None = 2,
                      group: AtomicFiles | None = None) -> Path:
    """Write ``obj`` as UTF-8 JSON with sorted keys; NaN and infinities become ``null``.

    With ``group`` the file is renamed into place when that set is committed.

    Returns:
        The path written.

    """
    text = json.dumps(to_jsonable(obj), indent=indent, sort_keys=True, ensure_ascii=False,
                      allow_nan=False)
    target = Path(path)
    _write_bytes(target, (text + "\n").encode("utf-8"), group)
    return target


class _AtomicSink:
    """Base class: context manager writing ``part_path``, renamed to ``path`` on a clean exit.

    With a ``group`` (:class:`AtomicFiles`) the sink only closes its file; the group renames
    it with the rest of its set. On an exception the temporary file is removed.
    """

    path: Path
    part_path: Path
    _group: AtomicFiles
    _own_group: bool

    def _open_part(self, group: AtomicFiles | None) -> None:
        self._own_group = group is None
        self._group = AtomicFiles() if group is None else group
        self.part_path = self._group.path(self.path)

    def __enter__(self) -> _AtomicSink:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self._close_handles()
            if exc_type is None:
                self._finalise()
        except BaseException:
            self._abandon()
            raise
        if exc_type is not None:
            self._abandon()
        elif self._own_group:
            self._group.commit()

    def _abandon(self) -> None:
        """Remove the temporary file (the owner of a shared group aborts the whole set)."""
        self._group.discard(self.path)

    def _close_handles(self) -> None:
        """Close open files (subclasses)."""

    def _finalise(self) -> None:
        """Check the finished temporary file before it is renamed (subclasses)."""


class CsvSink(_AtomicSink):
    """CSV file written row by row (flushed), renamed into place on a clean close.

    Floats are written in shortest round-trip form; NaN and ``None`` become empty cells.

    Examples:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "angles.csv"
        >>> with CsvSink(out, ["frame_index", "angle_deg"]) as sink:
        ...     sink.append({"frame_index": 0, "angle_deg": 41.5})
        >>> out.read_text().splitlines()
        ['frame_index,angle_deg', '0,41.5']

    """

    def __init__(self, path: str | Path, columns: Sequence[str], *,
                 group: AtomicFiles | None = None) -> None:
        if not columns or len(set(columns)) != len(columns):
            raise InputError(f"CsvSink columns must be unique and non-empty, got {list(columns)}")
        self.path = Path(path)
        self.columns = tuple(columns)
        self._open_part(group)
        self._fh: IO[str] | None = self.part_path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._fh)
        self._writer.writerow([csv_text(c) for c in self.columns])
        self.rows_written = 0

    def __enter__(self) -> CsvSink:
        return self

    def append(self, row: Mapping[str, Any] | Sequence[Any]) -> None:
        """Write one row: a mapping by column name (missing → empty) or a full sequence."""
        if self._fh is None:
            raise SinkError(f"CsvSink {self.path} is closed; open a new one to write more rows.")
        if isinstance(row, Mapping):
            unknown = set(row) - set(self.columns)
            if unknown:
                raise InputError(f"CSV row has unknown columns {sorted(unknown)}; "
                                 f"expected a subset of {list(self.columns)}")
            values = [row.get(c) for c in self.columns]
        else:
            values = list(row)
            if len(values) != len(self.columns):
                raise InputError(f"CSV row must have {len(self.columns)} values, got {len(values)}")
        self._writer.writerow([_csv_cell(v) for v in values])
        self._fh.flush()
        self.rows_written += 1

    def _close_handles(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _csv_cell(value: Any) -> str:
    """One cell: numbers as numbers, text (and lists, as JSON text) through :func:`csv_text`."""
    value = to_jsonable(value) if not isinstance(value, str) else value
    if value is None:
        return ""
    if isinstance(value, list):
        return csv_text(json.dumps(value))
    if isinstance(value, str):
        return csv_text(value)
    return str(value)


class JsonSink(_AtomicSink):
    """Collects records with :meth:`append` and writes them as one JSON list on close."""

    def __init__(self, path: str | Path, *, indent: int | None = 2,
                 group: AtomicFiles | None = None) -> None:
        self.path = Path(path)
        self._open_part(group)
        self.records: list[Any] = []
        self._indent = indent

    def __enter__(self) -> JsonSink:
        return self

    def append(self, record: Any) -> None:
        """Add one record (anything :func:`to_jsonable` accepts)."""
        self.records.append(to_jsonable(record))

    def _finalise(self) -> None:
        text = json.dumps(self.records, indent=self._indent, sort_keys=True, ensure_ascii=False,
                          allow_nan=False)
        self.part_path.write_bytes((text + "\n").encode("utf-8"))


def write_image(path: str | Path, image_bgr: npt.NDArray[np.uint8], *,
                jpeg_quality: int = 92, group: AtomicFiles | None = None) -> Path:
    """Encode ``image_bgr`` ``(H, W, 3)`` uint8 by the path's suffix and write it atomically.

    With ``group`` the file is renamed into place when that set is committed.

    Raises:
        InputError: if the suffix is not an image format OpenCV can encode.

    """
    target = Path(path)
    suffix = target.suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if suffix in (".jpg", ".jpeg") else []
    try:
        ok, buf = cv2.imencode(target.suffix.lower(), image_bgr, params)
    except cv2.error as err:
        raise InputError(f"Cannot encode an image as {target.suffix!r}; use .png or .jpg.") from err
    if not ok:
        raise InputError(f"Cannot encode an image as {target.suffix!r}; use .png or .jpg.")
    _write_bytes(target, buf.tobytes(), group)
    return target


class VideoSink(_AtomicSink):
    """Annotated video writer; ``.webm`` (VP8, plays in browsers) or ``.mp4`` (mp4v).

    Frames must all be ``(H, W, 3)`` uint8 with ``(W, H) == resolution_wh``: OpenCV would
    silently drop frames of another size, so they are rejected instead.

    Args:
        path: output file; its suffix picks the container.
        fps: frame rate written into the file.
        resolution_wh: ``(width, height)`` of every frame, pixels.
        codec: ``"vp8"``, ``"vp9"`` or ``"mp4v"``; default VP8 for ``.webm``, mp4v for ``.mp4``.
        group: write as part of this :class:`AtomicFiles` set instead of on its own.

    Raises:
        InputError: for an unknown suffix/codec pair or a bad fps or size.
        SinkError: if OpenCV cannot open the writer.

    """

    def __init__(self, path: str | Path, *, fps: float, resolution_wh: tuple[int, int],
                 codec: str | None = None, group: AtomicFiles | None = None) -> None:
        self.path = Path(path)
        self.codec = _pick_codec(self.path, codec)
        if not (math.isfinite(fps) and fps > 0):
            raise InputError(f"VideoSink fps must be > 0, got {fps}")
        w, h = (int(v) for v in resolution_wh)
        if w <= 0 or h <= 0:
            raise InputError(f"VideoSink resolution_wh must be positive, got {resolution_wh}")
        self.resolution_wh = (w, h)
        self.frames_written = 0
        if not is_utf8_path(self.path.absolute()):   # OpenCV would crash the process
            raise SinkError(f"Cannot write the video {printable(self.path)}: its folder or "
                            "name is not valid UTF-8 text; pick an output folder with a "
                            "UTF-8 name")
        self._open_part(group)
        fourcc = cv2.VideoWriter.fourcc(*VIDEO_CODECS[self.codec])
        # FFmpeg notes on stderr that it re-tags VP8/VP9 for WebM; harmless, so kept quiet.
        with native_stderr_silenced():
            self._writer: cv2.VideoWriter | None = cv2.VideoWriter(
                str(self.part_path), cv2.CAP_FFMPEG, fourcc, float(fps), self.resolution_wh)
        if not self._writer.isOpened():
            self._writer = None
            self._abandon()
            raise SinkError(f"Could not open a {self.codec} video writer for {self.path}; "
                            "check the folder is writable or use a .webm name.")

    def __enter__(self) -> VideoSink:
        return self

    def write_frame(self, image_bgr: npt.NDArray[np.uint8]) -> None:
        """Append one frame ``(H, W, 3)`` uint8 BGR."""
        if self._writer is None:
            raise SinkError(f"VideoSink {self.path} is closed; open a new one to write frames.")
        w, h = self.resolution_wh
        if image_bgr.shape != (h, w, 3) or image_bgr.dtype != np.uint8:
            raise InputError(f"VideoSink frame must be ({h}, {w}, 3) uint8, "
                             f"got {image_bgr.shape} {image_bgr.dtype}")
        self._writer.write(np.ascontiguousarray(image_bgr))
        self.frames_written += 1

    def _close_handles(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    def _finalise(self) -> None:
        if self.frames_written == 0:
            self._group.discard(self.path)
            logger.warning("No frames were written; %s was not created.", self.path)
            return
        if not self.part_path.is_file() or self.part_path.stat().st_size == 0:
            raise SinkError(f"The {self.codec} encoder wrote nothing to {self.path}; "
                            "try a .webm output name.")


def _pick_codec(path: Path, codec: str | None) -> str:
    suffix = path.suffix.lower()
    chosen = codec.lower() if codec else _DEFAULT_CODEC.get(suffix)
    allowed = {".webm": {"vp8", "vp9"}, ".mp4": {"mp4v"}}
    if chosen is None or chosen not in allowed.get(suffix, set()):
        raise InputError(f"Cannot write codec {codec or 'default'!s} to {path.name!r}; "
                         "use a .webm name (browser playback) or .mp4.")
    if suffix == ".mp4":
        logger.warning("%s uses MPEG-4 Part 2 (mp4v), which browsers may not play; "
                       "use a .webm name for browser playback.", path.name)
    return chosen

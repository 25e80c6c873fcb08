"""Batch inputs: folders, globs and manifests → unique files, hashed and probed.

:mod:`hiprom.batch.run` re-exports the public names (:data:`VIDEO_SUFFIXES`,
:class:`BatchInput`, :func:`collect_inputs`, :func:`read_manifest`, :func:`sha256_file`).
"""

from __future__ import annotations

import csv
import errno
import glob
import hashlib
import os
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from stat import S_ISREG

from hiprom._hashing import sha256_file
from hiprom.batch.remote import expand_url, fingerprint_url, is_url
from hiprom.batch.store import InputRecord
from hiprom.errors import HipromError, InputError, printable
from hiprom.pipeline.analysis import TestedSide

__all__ = [
    "MANIFEST_FIELDS",
    "VIDEO_SUFFIXES",
    "BatchInput",
    "collect_inputs",
    "fingerprint_all",
    "read_manifest",
    "sha256_file",
]

#: File endings picked up when a folder or a glob is scanned.
VIDEO_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".3gp",
    ".mts", ".m2ts",
})
MANIFEST_FIELDS = ("patient_id", "session_date", "side_tested", "notes")
#: ``side_tested`` as a manifest may spell it (any case): ``--side``'s words, and L and R.
SIDE_WORDS = {s.value: s.value for s in TestedSide} | {"l": TestedSide.LEFT.value,
                                                       "r": TestedSide.RIGHT.value}


@dataclass(frozen=True)
class BatchInput:
    """One file to score and what is known about it.

    ``url`` is set for an input on shared or object storage (:mod:`hiprom.batch.remote`);
    ``path`` then holds its name, for ids and output folder names.
    """

    path: Path
    patient_id: str | None = None
    session_date: str | None = None
    side_tested: str | None = None
    notes: str | None = None
    url: str | None = None

    @property
    def location(self) -> str:
        """Where the input is read from: its URL, or its local path."""
        return self.url if self.url is not None else str(self.path)


def _check_id_pattern(id_pattern: str | None) -> re.Pattern[str] | None:
    if id_pattern is None:
        return None
    try:
        pattern = re.compile(id_pattern)
    except re.error as err:
        raise InputError(f"--id-pattern {id_pattern!r} is not a valid regex ({err})") from err
    if "id" not in pattern.groupindex:
        raise InputError(f"--id-pattern {id_pattern!r} needs a named group, e.g. (?P<id>P\\d+)")
    return pattern


def _cell(row: dict[str, str | None], name: str) -> str | None:
    value = (row.get(name) or "").strip()
    return value or None


def read_manifest(path: Path) -> list[BatchInput]:
    """Return the inputs listed in a CSV manifest with a ``path`` column (relative to the manifest).

    Optional columns: ``patient_id``, ``session_date``, ``side_tested``, ``notes``.

    Raises:
        InputError: no ``path`` column, a row without a path, or a file that is not UTF-8
            CSV text.

    """
    try:
        return _read_manifest(path)
    except UnicodeDecodeError as err:   # Excel's "CSV" is Windows-1252 on Windows
        raise InputError(f"manifest {path} is not UTF-8 text (byte 0x{err.object[err.start]:02x} "
                         f"at offset {err.start}); save it from the spreadsheet as 'CSV UTF-8' "
                         "and try again") from None
    except csv.Error as err:
        raise InputError(f"manifest {path} is not a CSV text file ({err}); export it again "
                         "as 'CSV UTF-8'") from None


def _read_manifest(path: Path) -> list[BatchInput]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "path" not in reader.fieldnames:
            raise InputError(f"manifest {path} needs a 'path' column, got {reader.fieldnames}")
        inputs = []
        for line, row in enumerate(reader, start=2):
            if any("\x00" in str(v) for v in row.values()):   # no path or note holds a NUL
                raise InputError(f"manifest {path} line {line} holds a NUL byte, so it is not a "
                                 "CSV text file; export it again as 'CSV UTF-8'")
            value = _cell(row, "path")
            if value is None:
                raise InputError(f"manifest {path} line {line}: empty path; fill it or drop it")
            meta = {k: _cell(row, k) for k in MANIFEST_FIELDS}
            if (side := meta["side_tested"]) is not None:
                # An unknown word had been kept in results.csv while the clip was measured
                # as auto: the table then named one leg and held the other's value.
                meta["side_tested"] = SIDE_WORDS.get(side.strip().lower())
                if meta["side_tested"] is None:
                    raise InputError(f"manifest {path} line {line}: side_tested {side!r} is "
                                     "not left, right, both or auto (L and R also do); fix "
                                     "it or leave the cell empty")
            if is_url(value):
                inputs.append(BatchInput(Path(PurePosixPath(value).name), url=value, **meta))
                continue
            file = Path(value).expanduser()
            file = file if file.is_absolute() else path.parent / file
            inputs.append(BatchInput(file, **meta))
    return inputs


def _is_media_name(path: Path) -> bool:
    """A video or a photo: a folder of clinic footage is measured whole, stills included."""
    from hiprom.media.sources import IMAGE_SUFFIXES

    suffix = path.suffix.lower()
    return (suffix in VIDEO_SUFFIXES or suffix in IMAGE_SUFFIXES) and path.is_file()


def _outside(path: Path, exclude: Path | None) -> bool:
    """Whether ``path`` lies outside the folder ``exclude`` (symlinks resolved)."""
    if exclude is None:
        return True
    real = Path(os.path.realpath(path))
    return real != exclude and exclude not in real.parents


def _expand(source: str, exclude: Path | None = None) -> list[BatchInput]:
    if is_url(source):
        from hiprom.media.sources import IMAGE_SUFFIXES

        found = expand_url(source, VIDEO_SUFFIXES | IMAGE_SUFFIXES)
        return [BatchInput(Path(name), url=url) for url, name in found]
    path = Path(source).expanduser()
    if path.is_dir():
        return [BatchInput(p) for p in sorted(path.rglob("*"))
                if _is_media_name(p) and _outside(p, exclude)]
    if path.is_file() and path.suffix.lower() == ".csv":
        return read_manifest(path)
    if path.is_file() or not glob.has_magic(source):
        # An explicit file is taken whatever its ending; a missing one fails when scored.
        return [BatchInput(path)]
    return [BatchInput(Path(p)) for p in sorted(glob.glob(source, recursive=True))
            if _is_media_name(Path(p)) and _outside(Path(p), exclude)]


def _with_id(item: BatchInput, pattern: re.Pattern[str] | None) -> BatchInput:
    if pattern is None or item.patient_id is not None:
        return item
    match = pattern.search(item.path.name) or pattern.search(item.url or item.path.as_posix())
    return replace(item, patient_id=match.group("id")) if match and match.group("id") else item


def collect_inputs(sources: Iterable[str | Path], *, id_pattern: str | None = None,
                   exclude: str | Path | None = None) -> list[BatchInput]:
    """Expand folders (recursively), globs, files and manifests into unique inputs.

    Folders and globs keep files with a video ending (:data:`VIDEO_SUFFIXES`) or a photo
    ending (:data:`hiprom.media.sources.IMAGE_SUFFIXES`); files
    named explicitly or in a manifest are kept whatever their ending. A file mentioned twice
    is one input: the first mention, with the manifest cells it lacked filled from a later
    one. ``id_pattern`` fills ``patient_id`` when a manifest did not, searched
    in the file name first, then in the whole path. Folders and globs skip what lies in
    ``exclude`` (the batch's own output folder, when it is inside a scanned folder: its key
    frames and annotated videos are not footage); files named explicitly are still taken.

    Raises:
        InputError: a bad ``id_pattern`` or manifest, or an empty source.

    """
    sources = list(sources)
    if any(not str(source).strip() for source in sources):
        # Path("") is ".": an unset shell variable would scan the whole working folder.
        raise InputError("an empty input path was given (an unset variable?); pass the "
                         "folders, files, globs or manifests to score")
    pattern = _check_id_pattern(id_pattern)
    skip = None if exclude is None else Path(os.path.realpath(exclude))
    seen: dict[Path | str, BatchInput] = {}
    for source in sources:
        for item in _expand(str(source), skip):
            if item.url is not None:
                key: Path | str = item.url
            else:
                # One file reached by two names counts once. realpath, unlike Path.resolve,
                # does not raise on a symlink loop: the looping name is kept and fails when
                # hashed.
                key = Path(os.path.realpath(item.path))
                item = replace(item, path=Path(os.path.abspath(item.path)))
            seen[key] = item if key not in seen else _fill(seen[key], item)
    # After merging, so that a manifest's patient_id wins over one found in the name.
    return [_with_id(item, pattern) for item in seen.values()]


def _fill(first: BatchInput, later: BatchInput) -> BatchInput:
    """The first mention of a file, with the identifiers it left empty taken from a later one.

    A folder followed by a manifest that names some of its files had lost the manifest's
    patient, date, side and notes for them (the folder's bare mention came first).
    """
    return replace(first, **{k: getattr(later, k) for k in MANIFEST_FIELDS
                             if getattr(first, k) is None and getattr(later, k) is not None})


def _fingerprint(item: BatchInput) -> tuple[InputRecord, int, str | None]:
    """Hash and probe one input: its record, declared frames, and why it is unreadable."""
    from hiprom.media.sources import name_problem

    meta = {k: getattr(item, k) for k in MANIFEST_FIELDS}
    problem = None if item.url is not None else name_problem(item.location)
    if problem is not None:   # recorded under a name the store, CSV and terminal can hold
        location = printable(item.location)
        name = hashlib.sha256(os.fsencode(item.location)).hexdigest()[:16]
        return InputRecord(location, f"unreadable:{name}", **meta), 0, f"cannot read {problem}"
    try:
        if item.url is not None:
            sha, size, mtime_ns = fingerprint_url(item.url)
        else:
            stat = item.path.stat()
            if not S_ISREG(stat.st_mode):  # a FIFO would block the hash; a device never ends
                raise OSError(errno.EINVAL, "not a regular file (a pipe, socket or device)")
            sha, size, mtime_ns = sha256_file(item.path), stat.st_size, stat.st_mtime_ns
    except OSError as err:
        name = hashlib.sha256(item.location.encode()).hexdigest()[:16]
        reason = (f"cannot read {item.location} ({err.strerror or err}); check the path and "
                  "permissions")
        return InputRecord(item.location, f"unreadable:{name}", **meta), 0, reason
    return InputRecord(item.location, sha, size, mtime_ns, **meta), 0, None


def _declared_frames(location: str) -> int:
    """Frames the container declares (1 for a photo, 0 when unknown or not local)."""
    from hiprom._native import native_stderr_silenced
    from hiprom.media.sources import is_image, probe_video

    if is_url(location):  # not read twice for the progress bar; scheduled as they come
        return 0
    path = Path(location)
    if is_image(path):
        return 1
    try:
        with native_stderr_silenced():  # FFmpeg complains about broken files on fd 2
            return probe_video(path).frame_count
    except HipromError:
        return 0


def fingerprint_all(inputs: Sequence[BatchInput]) -> list[tuple[InputRecord, int, str | None]]:
    """Hash every input (in threads), then probe its declared frames (in this thread)."""
    # Hashing is I/O bound and hashlib releases the GIL, so threads overlap the reads.
    with ThreadPoolExecutor(max_workers=min(4, max(1, len(inputs)))) as pool:
        hashed = list(pool.map(_fingerprint, inputs))
    # Probing stays in this thread: silencing native stderr swaps a process-wide descriptor.
    return [(r, _declared_frames(r.path) if reason is None else 0, reason)
            for r, _, reason in hashed]

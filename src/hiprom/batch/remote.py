"""Inputs on shared or object storage, named by fsspec URLs (``s3://``, ``gs://``, ``file://``).

A batch input can be a URL instead of a local path: a folder (searched recursively), a
glob, or one file, on any filesystem `fsspec <https://filesystem-spec.readthedocs.io>`_
knows (``s3://`` needs ``s3fs``, ``gs://`` ``gcsfs``, ``az://`` ``adlfs``; ``file://`` is
built in). The driver lists and hashes the inputs through fsspec (it reads each once, as
it does local files); a worker reads its file through fsspec too: a ``file://`` URL in
place, any other one copied into a temporary file on the worker for the time it is
measured (OpenCV reads local files), then deleted. Nothing else leaves the storage: no
copy is kept, and the driver never sends footage to the workers.

``fsspec`` comes with ``pip install "hiprom[dask]"``; without it a URL input stops the
batch with one line naming the extra.
"""

from __future__ import annotations

import glob
import hashlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from hiprom.errors import InputError, MissingExtraError, SourceError

__all__ = ["expand_url", "fingerprint_url", "is_url", "local_copy"]

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_CHUNK_BYTES = 1 << 20


def is_url(location: str | Path) -> bool:
    """Whether ``location`` is a URL (``scheme://...``) rather than a local path.

    Examples:
        >>> is_url("s3://clinic/2026/P017.mp4"), is_url("file:///data/a.mp4")
        (True, True)
        >>> is_url("/data/a.mp4"), is_url("C:/videos/a.mp4")
        (False, False)

    """
    return isinstance(location, str) and bool(_URL.match(location))


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        import fsspec
    except ImportError as err:
        raise MissingExtraError(
            f'{url}: reading inputs from URLs needs fsspec: pip install "hiprom[dask]"') from err
    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as err:  # e.g. s3:// without s3fs installed
        raise MissingExtraError(f"{url}: {err}") from err


def expand_url(source: str, suffixes: frozenset[str]) -> list[tuple[str, str]]:
    """``(url, name)`` of the files a URL names.

    A folder (searched recursively) or a glob keeps the files ending in ``suffixes``; a
    single file is kept whatever its ending.

    Raises:
        MissingExtraError: fsspec (or the protocol's package) is not installed.
        InputError: the storage cannot be listed.

    """
    fs, root = _filesystem(source)
    try:
        if glob.has_magic(root):
            found = [p for p in fs.glob(root) if not fs.isdir(p)]
        elif fs.isdir(root):
            found = fs.find(root)
        else:
            return [(source, PurePosixPath(root).name)]
    except OSError as err:
        raise InputError(f"cannot list {source} ({err}); check the URL and your access") from err
    keep = sorted(p for p in found if PurePosixPath(p).suffix.lower() in suffixes)
    return [(fs.unstrip_protocol(p), PurePosixPath(p).name) for p in keep]


def _mtime_ns(info: dict[str, Any]) -> int | None:
    for key in ("mtime", "LastModified", "updated", "last_modified", "created"):
        value = info.get(key)
        if isinstance(value, int | float):
            return int(value * 1e9)
        if isinstance(value, datetime):
            return int(value.timestamp() * 1e9)
        if isinstance(value, str):
            try:
                return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1e9)
            except ValueError:
                continue
    return None


def fingerprint_url(url: str) -> tuple[str, int | None, int | None]:
    """``(sha256, size_bytes, mtime_ns)`` of the object at ``url``, read in 1 MiB blocks.

    Raises:
        MissingExtraError: fsspec (or the protocol's package) is not installed.
        OSError: the object cannot be read.

    """
    fs, path = _filesystem(url)
    info = fs.info(path)
    digest = hashlib.sha256()
    with fs.open(path, "rb") as fh:
        while block := fh.read(_CHUNK_BYTES):
            digest.update(block)
    size = info.get("size")
    return digest.hexdigest(), None if size is None else int(size), _mtime_ns(info)


@contextmanager
def local_copy(location: str) -> Iterator[Path]:
    """A local path to read ``location`` from, for as long as the ``with`` block runs.

    A local path or a ``file://`` URL is used in place; any other URL is copied into a
    temporary folder (the file keeps its name, so its type is still recognised) and
    deleted afterwards.

    Raises:
        SourceError: the object cannot be read.

    """
    if not is_url(location):
        yield Path(location)
        return
    fs, path = _filesystem(location)
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        yield Path(path)
        return
    folder = Path(tempfile.mkdtemp(prefix="hiprom-input-"))
    try:
        local = folder / (PurePosixPath(path).name or "input")
        try:
            with fs.open(path, "rb") as src, local.open("wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK_BYTES)
        except OSError as err:
            raise SourceError(f"cannot read {location} ({err}); check the URL and your "
                              "access from this worker") from err
        yield local
    finally:
        shutil.rmtree(folder, ignore_errors=True)

"""Batch scoring: folders, globs or a manifest → jobs → a process pool or a Dask cluster.

The driver (the process that calls :func:`run_batch`) finds the inputs, hashes them,
asks the :class:`~hiprom.store.ResultStore` which are already done, sends the rest to an
engine, and commits each outcome as it arrives, one transaction per input. Workers only
compute: they measure one file, write that file's own result files (atomically, under a
folder named by its content hash) and return the outcome. A killed run therefore loses
at most the inputs in flight, and the next run scores exactly those.

Nothing here touches the network: the local engine uses processes on this machine, and
the Dask engine talks only to the scheduler address it is given.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import logging
import os
import re
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from hiprom import __version__
from hiprom.errors import HipromError, InputError
from hiprom.pipeline import MeasureOptions
from hiprom.store import (
    DEFAULT_STORE_NAME,
    InputRecord,
    OutcomeRecord,
    ResultStore,
    StoredResult,
    settings_key,
)

__all__ = [
    "BatchConfig",
    "BatchInput",
    "BatchReport",
    "Job",
    "MissingExtraError",
    "VIDEO_SUFFIXES",
    "collect_inputs",
    "read_manifest",
    "run_batch",
    "score_job",
    "sha256_file",
]

log = logging.getLogger(__name__)

#: File endings picked up when a folder or a glob is scanned.
VIDEO_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".3gp",
    ".mts", ".m2ts",
})
_MANIFEST_FIELDS = ("patient_id", "session_date", "side_tested", "notes")
_HASH_CHUNK_BYTES = 1 << 20
#: Set in local pool workers (see ``_init_worker``); never in the driver or a Dask thread.
_IN_POOL_WORKER = False

ScoreFn = Callable[["Job"], OutcomeRecord]
OutcomeCallback = Callable[["Job", OutcomeRecord], None]


class MissingExtraError(HipromError, ImportError):
    """An optional dependency (an ``hiprom[...]`` extra) is not installed."""


@dataclass(frozen=True)
class BatchInput:
    """One file to score and what is known about it."""

    path: Path
    patient_id: str | None = None
    session_date: str | None = None
    side_tested: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class Job:
    """One unit of work sent to a worker; plain data, so it pickles across processes.

    Attributes:
        path: the input file.
        sha256: its content hash.
        out_dir: folder for this input's result files.
        options: how to measure.
        annotate: also write an annotated video.
        blur_faces: blur faces in the annotated video.
        max_duration_s: refuse clips longer than this (None: no limit).
        expected_frames: frames the container declares (0 when unknown); for progress.
    """

    path: str
    sha256: str
    out_dir: str
    options: MeasureOptions = MeasureOptions()
    annotate: bool = False
    blur_faces: bool = False
    max_duration_s: float | None = None
    expected_frames: int = 0


@dataclass(frozen=True)
class BatchConfig:
    """Everything a batch run needs; the CLI builds one from its flags.

    Attributes:
        sources: folders (searched recursively), globs, files or manifest CSVs.
        out_dir: output folder: store, ``results.csv``, ``summary.html``, per-video files.
        workers: local processes (None: one per CPU core).
        scheduler: a Dask scheduler address; when set, jobs run on that cluster.
        id_pattern: regex with a named group ``id`` that finds patient ids in file names.
        options: how to measure each input.
        annotate: write annotated videos.
        blur_faces: blur faces in annotated videos.
        retry_failed: score again inputs that failed in an earlier run.
        rescore: score everything again, even inputs already done.
        max_duration_s: refuse clips longer than this many seconds (None: no limit).
    """

    sources: tuple[str, ...]
    out_dir: Path
    workers: int | None = None
    scheduler: str | None = None
    id_pattern: str | None = None
    options: MeasureOptions = MeasureOptions()
    annotate: bool = False
    blur_faces: bool = False
    retry_failed: bool = False
    rescore: bool = False
    max_duration_s: float | None = None


@dataclass
class BatchReport:
    """What a run did; ``exit_code`` is 0 only when every input of the run is scored."""

    n_inputs: int = 0
    n_scored: int = 0
    n_skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    results: list[StoredResult] = field(default_factory=list)
    store_path: Path | None = None
    exports: list[Path] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 when every input scored, 1 when at least one failed."""
        return 1 if self.failures else 0


# --------------------------------------------------------------------------- inputs


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
    """Inputs listed in a CSV manifest with a ``path`` column (relative to the manifest).

    Optional columns: ``patient_id``, ``session_date``, ``side_tested``, ``notes``.

    Raises:
        InputError: no ``path`` column, or a row without a path.
    """
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "path" not in reader.fieldnames:
            raise InputError(f"manifest {path} needs a 'path' column, got {reader.fieldnames}")
        inputs = []
        for line, row in enumerate(reader, start=2):
            value = _cell(row, "path")
            if value is None:
                raise InputError(f"manifest {path} line {line}: empty path; fill it or drop it")
            file = Path(value).expanduser()
            file = file if file.is_absolute() else path.parent / file
            inputs.append(BatchInput(file, **{k: _cell(row, k) for k in _MANIFEST_FIELDS}))
    return inputs


def _is_video_name(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES and path.is_file()


def _expand(source: str) -> list[BatchInput]:
    path = Path(source).expanduser()
    if path.is_dir():
        return [BatchInput(p) for p in sorted(path.rglob("*")) if _is_video_name(p)]
    if path.is_file() and path.suffix.lower() == ".csv":
        return read_manifest(path)
    if path.is_file() or not glob.has_magic(source):
        # An explicit file is taken whatever its ending; a missing one fails when scored.
        return [BatchInput(path)]
    return [BatchInput(Path(p)) for p in sorted(glob.glob(source, recursive=True))
            if _is_video_name(Path(p))]


def _with_id(item: BatchInput, pattern: re.Pattern[str] | None) -> BatchInput:
    if pattern is None or item.patient_id is not None:
        return item
    match = pattern.search(item.path.name) or pattern.search(item.path.as_posix())
    return replace(item, patient_id=match.group("id")) if match and match.group("id") else item


def collect_inputs(sources: Iterable[str | Path], *, id_pattern: str | None = None
                   ) -> list[BatchInput]:
    """Expand folders (recursively), globs, files and manifests into unique inputs.

    Folders and globs keep only files with a video ending (:data:`VIDEO_SUFFIXES`); files
    named explicitly or in a manifest are kept whatever their ending. The first mention
    of a file wins. ``id_pattern`` fills ``patient_id`` when a manifest did not, searched
    in the file name first, then in the whole path.

    Raises:
        InputError: a bad ``id_pattern`` or manifest.
    """
    pattern = _check_id_pattern(id_pattern)
    seen: dict[Path, BatchInput] = {}
    for source in sources:
        for item in _expand(str(source)):
            key = item.path.resolve()  # one file reached by two names counts once
            if key not in seen:
                seen[key] = _with_id(replace(item, path=Path(os.path.abspath(item.path))),
                                     pattern)
    return list(seen.values())


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks (constant memory)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_HASH_CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _fingerprint(item: BatchInput) -> tuple[InputRecord, int, str | None]:
    """Hash and probe one input: its record, declared frames, and why it is unreadable."""
    meta = {k: getattr(item, k) for k in _MANIFEST_FIELDS}
    try:
        stat = item.path.stat()
        sha = sha256_file(item.path)
    except OSError as err:
        name = hashlib.sha256(str(item.path).encode()).hexdigest()[:16]
        reason = f"cannot read {item.path} ({err.strerror or err}); check the path and permissions"
        return InputRecord(str(item.path), f"unreadable:{name}", **meta), 0, reason
    return InputRecord(str(item.path), sha, stat.st_size, stat.st_mtime_ns, **meta), 0, None


def _declared_frames(path: Path) -> int:
    """Frames the container declares (1 for a photo, 0 when unknown); for progress only."""
    from hiprom._native import native_stderr_silenced
    from hiprom.sources import is_image, probe_video

    if is_image(path):
        return 1
    try:
        with native_stderr_silenced():  # FFmpeg complains about broken files on fd 2
            return probe_video(path).frame_count
    except HipromError:
        return 0


# --------------------------------------------------------------------------- settings


def settings_dict(config: BatchConfig) -> dict[str, Any]:
    """What changes the numbers or the outputs; its hash keys results in the store."""
    from hiprom.backends.mediapipe import model_info
    from hiprom.sinks import to_jsonable

    try:
        model = model_info()["sha256"]
    except OSError:
        model = None
    return {
        "options": to_jsonable(asdict(config.options)),
        "annotate": config.annotate,
        "blur_faces": config.blur_faces,
        "model_sha256": model,
    }


# --------------------------------------------------------------------------- scoring


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def failed_outcome(job: Job, err: BaseException, *, compute_s: float = 0.0) -> OutcomeRecord:
    """The outcome of a job that raised ``err`` (one line, no traceback)."""
    message = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
    return OutcomeRecord(job.sha256, ok=False, error_type=type(err).__name__,
                         error_message=message, compute_s=compute_s, worker=_worker_name())


def _check_duration(job: Job) -> None:
    from hiprom.sources import is_image, probe_video

    if job.max_duration_s is None or is_image(job.path):
        return
    duration_s = probe_video(job.path).duration_s
    if duration_s > job.max_duration_s:
        raise InputError(
            f"{job.path} lasts {duration_s / 60:.1f} min, over --max-duration "
            f"{job.max_duration_s:.0f} s; trim it to the test or raise --max-duration"
        )


def score_job(job: Job) -> OutcomeRecord:
    """Measure one input and write its result files; never raises for a bad input.

    Runs in a worker. Expected problems (:class:`HipromError`) become a failed outcome
    with their one-line message; anything else too, with the exception's type, so one
    bad file never stops a batch.
    """
    t0 = time.perf_counter()
    try:
        from hiprom._native import native_stderr_silenced
        from hiprom.measure import measure_path
        from hiprom.outputs import write_outputs
        from hiprom.privacy import face_blur_hook
        from hiprom.sinks import to_jsonable

        _check_duration(job)
        # A pool worker's stderr is the user's terminal: keep FFmpeg/LiteRT chatter off it.
        with native_stderr_silenced(_IN_POOL_WORKER):
            measurement = measure_path(Path(job.path), options=job.options)
            # The hook also covers the key frame, which shows the face like any other frame.
            hook = face_blur_hook(measurement) if job.blur_faces else None
            files = write_outputs(measurement, Path(job.out_dir), annotate=job.annotate,
                                  frame_hook=hook)
        result = to_jsonable(measurement.to_dict())
    except HipromError as err:
        return failed_outcome(job, err, compute_s=time.perf_counter() - t0)
    except Exception as err:  # noqa: BLE001 - isolate one file's bug from the batch
        log.debug("unexpected error on %s", job.path, exc_info=True)
        return failed_outcome(job, err, compute_s=time.perf_counter() - t0)
    n_frames = int((result.get("source") or {}).get("n_frames") or 0)
    return OutcomeRecord(job.sha256, ok=True, result=result, output_dir=job.out_dir,
                         output_files=tuple(str(f) for f in files), n_frames=n_frames,
                         compute_s=time.perf_counter() - t0, worker=_worker_name())


# --------------------------------------------------------------------------- driver


def _output_dir(out_dir: Path, record: InputRecord) -> Path:
    return out_dir / "videos" / f"{Path(record.path).stem}-{record.sha256[:12]}"


def _plan(records: Sequence[tuple[InputRecord, int, str | None]], statuses: dict[str, str],
          config: BatchConfig) -> tuple[list[Job], list[tuple[InputRecord, str]], int]:
    """Jobs to run, unreadable inputs to record as failed, and how many are skipped."""
    jobs: dict[str, Job] = {}
    unreadable: list[tuple[InputRecord, str]] = []
    skipped = 0
    for record, frames, reason in records:
        status = statuses.get(record.sha256)
        redo = config.rescore or status is None or (status == "failed" and config.retry_failed)
        if not redo or record.sha256 in jobs:
            skipped += 1
        elif reason is not None:
            unreadable.append((record, reason))
        else:
            jobs[record.sha256] = Job(
                record.path, record.sha256, str(_output_dir(config.out_dir, record)),
                options=config.options, annotate=config.annotate,
                blur_faces=config.blur_faces, max_duration_s=config.max_duration_s,
                expected_frames=frames,
            )
    return list(jobs.values()), unreadable, skipped


def _fingerprint_all(inputs: Sequence[BatchInput]) -> list[tuple[InputRecord, int, str | None]]:
    # Hashing is I/O bound and hashlib releases the GIL, so threads overlap the reads.
    with ThreadPoolExecutor(max_workers=min(4, max(1, len(inputs)))) as pool:
        hashed = list(pool.map(_fingerprint, inputs))
    # Probing stays in this thread: silencing native stderr swaps a process-wide descriptor.
    return [(r, _declared_frames(Path(r.path)) if reason is None else 0, reason)
            for r, _, reason in hashed]


def _engine(config: BatchConfig) -> Callable[[Sequence[Job], ScoreFn, OutcomeCallback], None]:
    if config.scheduler:
        address = config.scheduler
        return lambda jobs, fn, cb: run_dask(jobs, fn, cb, address=address)
    workers = config.workers or os.cpu_count() or 1
    return lambda jobs, fn, cb: run_local(jobs, fn, cb, workers=workers)


# --------------------------------------------------------------------------- engines


def _init_worker() -> None:
    """Worker start-up: keep native libraries from oversubscribing the cores."""
    import cv2

    global _IN_POOL_WORKER
    # One process per core already uses every core; OpenCV's own threads only compete.
    cv2.setNumThreads(1)
    os.environ.setdefault("GLOG_minloglevel", "2")
    _IN_POOL_WORKER = True


def _crash_outcome(job: Job) -> OutcomeRecord:
    return OutcomeRecord(job.sha256, ok=False, error_type="WorkerCrashed",
                         error_message="the worker process died while scoring this file "
                         "(native crash or out of memory); check the file plays")


def _fill_pool(pool: Any, queue: deque[tuple[Job, int]], in_flight: dict[Any, tuple[Job, int]],
               score_fn: ScoreFn, workers: int) -> None:
    """Submit queued jobs up to ``workers``; a job that was in a crash runs alone."""
    while queue and len(in_flight) < workers:
        job, crashes = queue[0]
        if any(c for _, c in in_flight.values()) or (crashes and in_flight):
            return
        queue.popleft()
        in_flight[pool.submit(score_fn, job)] = (job, crashes)


def _drain(pool: Any, queue: deque[tuple[Job, int]], score_fn: ScoreFn,
           on_outcome: OutcomeCallback, workers: int) -> None:
    """Run queued jobs on ``pool`` until done or the pool breaks (then requeue suspects)."""
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    in_flight: dict[Any, tuple[Job, int]] = {}
    while queue or in_flight:
        _fill_pool(pool, queue, in_flight, score_fn, workers)
        done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
        for future in done:
            job, crashes = in_flight.pop(future)
            try:
                outcome = future.result()
            except BrokenProcessPool:
                suspects = [(job, crashes)] + list(in_flight.values())
                alone = len(suspects) == 1
                for item in reversed(suspects):
                    if alone or item[1]:
                        on_outcome(item[0], _crash_outcome(item[0]))
                    else:
                        queue.appendleft((item[0], item[1] + 1))
                return
            except Exception as err:  # noqa: BLE001 - e.g. a result that fails to unpickle
                outcome = failed_outcome(job, err)
            on_outcome(job, outcome)


def _ping() -> int:
    return os.getpid()


def _check_pool_starts(pool: Any) -> None:
    """Fail the whole batch, not each file, when worker processes cannot even start."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        pool.submit(_ping).result()
    except BrokenProcessPool as err:
        raise HipromError(
            "could not start worker processes; a script that calls run_batch must guard "
            "it with `if __name__ == '__main__':`, or use --workers 1 to see the error"
        ) from err


def run_local(jobs: Sequence[Job], score_fn: ScoreFn, on_outcome: OutcomeCallback, *,
              workers: int) -> None:
    """Run jobs on a pool of ``workers`` local processes, calling ``on_outcome`` per job.

    A worker that dies (segfault, out-of-memory kill) breaks the pool; the jobs that were
    running are retried one at a time in a fresh pool, and the one that crashes alone is
    recorded as failed, so one poisonous file cannot stop the batch.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    queue = deque((job, 0) for job in jobs)
    # spawn: workers start clean (no inherited threads or native model state).
    context = multiprocessing.get_context("spawn")
    while queue:
        n = max(1, min(workers, len(queue)))
        pool = ProcessPoolExecutor(n, mp_context=context, initializer=_init_worker)
        try:
            _check_pool_starts(pool)
            _drain(pool, queue, score_fn, on_outcome, n)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


def run_dask(jobs: Sequence[Job], score_fn: ScoreFn, on_outcome: OutcomeCallback, *,
             address: str) -> None:
    """Run jobs on the Dask cluster at ``address``; outcomes come back to this process.

    Raises:
        MissingExtraError: Dask is not installed.
        HipromError: the scheduler cannot be reached.
    """
    try:
        from distributed import Client, as_completed
    except ImportError as err:
        raise MissingExtraError(
            f'--scheduler needs Dask ({err.name} is missing): pip install "hiprom[dask]"'
        ) from err
    try:
        client = Client(address, timeout=30, set_as_default=False)
    except (OSError, TimeoutError) as err:
        raise HipromError(f"cannot reach the Dask scheduler at {address} ({err}); "
                          "check the address and that the scheduler runs") from err
    with client:
        futures = {client.submit(score_fn, job, pure=False): job for job in jobs}
        for future in as_completed(futures, loop=client.loop):
            job = futures[future]
            try:
                outcome = future.result()
            except Exception as err:  # noqa: BLE001 - KilledWorker, lost connection...
                outcome = failed_outcome(job, err)
            future.release()
            on_outcome(job, outcome)


def run_batch(
    config: BatchConfig,
    *,
    score_fn: ScoreFn = score_job,
    on_planned: Callable[[Sequence[Job], int], None] | None = None,
    on_outcome: OutcomeCallback | None = None,
) -> BatchReport:
    """Score every input of ``config`` that the store does not hold yet.

    Args:
        config: inputs, output folder, engine and measuring options.
        score_fn: the per-job function run by workers (a module-level function, so it
            pickles); tests pass a fake one.
        on_planned: called once with the jobs to run and the number skipped.
        on_outcome: called in the driver after each outcome is committed.

    Returns:
        A :class:`BatchReport`; its ``exit_code`` is what the CLI exits with.

    Raises:
        InputError: no input found, or a bad manifest or ``id_pattern``.
        MissingExtraError: ``scheduler`` is set but Dask is not installed.
    """
    inputs = collect_inputs(config.sources, id_pattern=config.id_pattern)
    if not inputs:
        raise InputError(f"no video found in {', '.join(config.sources)}; pass folders, "
                         "globs or a manifest CSV with a 'path' column")
    engine = _engine(config)
    settings = settings_dict(config)
    key = settings_key(settings)
    report = BatchReport(n_inputs=len(inputs), store_path=config.out_dir / DEFAULT_STORE_NAME)
    with ResultStore(report.store_path) as store:
        run_id = store.begin_run(hiprom_version=__version__, settings_key=key, settings=settings)
        records = _fingerprint_all(inputs)
        store.record_inputs([r for r, _, _ in records], run_id=run_id)
        jobs, unreadable, report.n_skipped = _plan(records, store.statuses(key), config)
        for record, reason in unreadable:
            store.commit_outcome(OutcomeRecord(record.sha256, ok=False, error_type="SourceError",
                                               error_message=reason), settings_key=key,
                                 run_id=run_id)
        if on_planned is not None:
            on_planned(jobs, report.n_skipped)

        def commit(job: Job, outcome: OutcomeRecord) -> None:
            store.commit_outcome(outcome, settings_key=key, run_id=run_id)
            report.n_scored += outcome.ok
            if on_outcome is not None:
                on_outcome(job, outcome)

        engine(jobs, score_fn, commit)
        report.results = store.results(key, paths=[r.path for r, _, _ in records])
        report.failures = [(s.input.path, f"{s.error_type}: {s.error_message}")
                           for s in report.results if s.status != "ok"]
        store.finish_run(run_id, n_inputs=len(inputs), n_scored=report.n_scored,
                         n_skipped=report.n_skipped, n_failed=len(report.failures))
    from hiprom.summary import write_exports

    report.exports = write_exports(report.results, config.out_dir)
    return report

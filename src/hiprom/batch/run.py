"""Batch scoring: folders, globs or a manifest → jobs → a process pool or a Dask cluster.

The driver (the process that calls :func:`run_batch`) finds the inputs, hashes them,
asks the :class:`~hiprom.batch.store.ResultStore` which are already done, sends the rest to an
engine, and commits each outcome as it arrives, one transaction per input. Workers only
compute: they measure one file, write that file's own result files (atomically, under a
folder named by its content hash) and return the outcome. A killed run therefore loses
at most the inputs in flight, and the next run scores exactly those.

Nothing here touches the network: the local engine uses processes on this machine, and
the Dask engine talks only to the scheduler address it is given.

Input discovery lives in :mod:`hiprom.batch.inputs` and the engines in
:mod:`hiprom.batch.engines`; their public names are re-exported here.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple, cast

from hiprom._version import __version__
from hiprom.batch.engines import (
    Job,
    OutcomeCallback,
    ScoreFn,
    failed_outcome,
    in_pool_worker,
    run_dask,
    run_local,
    worker_name,
)
from hiprom.batch.inputs import (
    SIDE_WORDS,
    VIDEO_SUFFIXES,
    BatchInput,
    collect_inputs,
    fingerprint_all,
    read_manifest,
    sha256_file,
)
from hiprom.batch.remote import is_url, local_copy
from hiprom.batch.store import (
    DEFAULT_STORE_NAME,
    InputRecord,
    OutcomeRecord,
    ResultStore,
    StoredResult,
    settings_key,
)
from hiprom.errors import HipromError, InputError, describe_os_error
from hiprom.pipeline.analysis import MeasureOptions, TestedSide

__all__ = [
    "LOCK_NAME",
    "BatchBusyError",
    "BatchConfig",
    "BatchInput",
    "BatchReport",
    "Job",
    "VIDEO_SUFFIXES",
    "collect_inputs",
    "read_manifest",
    "run_batch",
    "score_job",
    "sha256_file",
]

log = logging.getLogger(__name__)

#: Lock file in the output folder; held (``flock``) by the batch writing to that folder.
LOCK_NAME = "hiprom-batch.lock"


class BatchBusyError(HipromError):
    """Another batch is writing to the same output folder."""


@contextmanager
def _out_dir_lock(out_dir: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on ``out_dir`` for one run.

    The lock file holds the owner's pid for the message. The kernel drops the lock when
    the owner's process ends, however it ends, so a killed run never leaves a stale lock.

    Raises:
        BatchBusyError: another process holds it.

    """
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no lock, as before
        yield
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(out_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise BatchBusyError(f"another hiprom batch is writing to {out_dir} (pid {pid}); "
                                 "wait for it or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


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
        blur_faces: blur every face in the images written (key frames, annotated videos);
            ``--show-faces`` turns it off.
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
    blur_faces: bool = True
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
    #: Contents (sha256) this run scored or found unreadable; the rest came from the store.
    run_now: set[str] = field(default_factory=set)

    @property
    def exit_code(self) -> int:
        """0 when every input scored, 1 when at least one failed."""
        return 1 if self.failures else 0

    @property
    def refused(self) -> list[tuple[str, str]]:
        """Inputs scored but refused as not the seated test, with the reason (no value)."""
        return [(item.input.path, str((item.result or {})["protocol"].get("reason") or ""))
                for item in self.results if item.refused]

    def tally(self) -> Tally:
        """Count the run's inputs by path, each once, so that the counts add up to them."""
        shas = [item.input.sha256 for item in self.results]
        failed = [item for item in self.results if item.status != "ok"]
        scored = [item for item in self.results if item.status == "ok"]
        return Tally(
            scored_now=sum(item.input.sha256 in self.run_now for item in scored),
            from_store=sum(item.input.sha256 not in self.run_now for item in scored),
            failed=len(failed),
            failed_before=sum(item.input.sha256 not in self.run_now for item in failed),
            same_content=len(shas) - len(set(shas)),
        )


class Tally(NamedTuple):
    """A run's inputs counted by path: scored now + from the store + failed = all of them."""

    scored_now: int
    from_store: int
    failed: int
    #: Of ``failed``: failed in an earlier run and not tried again (no --retry-failed).
    failed_before: int
    #: Inputs whose bytes equal an earlier input's (scored once, reported under each path).
    same_content: int


# --------------------------------------------------------------------------- settings


def settings_dict(config: BatchConfig) -> dict[str, Any]:
    """Return what changes the numbers or the outputs; its hash keys results in the store."""
    from hiprom.backends.mediapipe import model_info
    from hiprom.media.sinks import to_jsonable

    def sha256(path: Path | None = None) -> str | None:
        try:
            return model_info(path)["sha256"]
        except OSError:
            return None

    options = to_jsonable(asdict(config.options))
    if not options.get("second_network"):
        # Added after stores existed: left out when off, so their keys stay the same.
        options.pop("second_network", None)
    else:
        from hiprom.backends import movenet

        options["second_network_sha256"] = sha256(movenet.model_path())
    return {
        "options": options,
        "annotate": config.annotate,
        "blur_faces": config.blur_faces,
        "model_sha256": sha256(),
    }


def _check_duration(job: Job) -> None:
    from hiprom.media.sources import is_image, probe_video

    if job.max_duration_s is None or is_image(job.path):
        return
    duration_s = probe_video(job.path).duration_s
    if duration_s > job.max_duration_s:
        raise InputError(
            f"{job.path} lasts {duration_s / 60:.1f} min, over --max-duration "
            f"{job.max_duration_s:.0f} s; trim it to the test or raise --max-duration"
        )


def warm_worker() -> None:
    """A worker's start-up, paid once per process: the measuring stack and the pose model.

    Imports what :func:`score_job` imports, reads the model file into the process's cache
    and keeps the stateless IMAGE-mode networks between files: the search for other people
    and the face detectors that blur the key frame. Every file still gets a fresh
    VIDEO-mode tracker (MediaPipe cannot reset one: a tracker fed blank frames between
    files did not give a fresh tracker's landmarks) and a fresh face blurrer, so results do not
    depend on which worker scored which file, or in which order.
    """
    import hiprom.media.outputs  # noqa: F401
    import hiprom.media.privacy  # noqa: F401
    import hiprom.pipeline.measure  # noqa: F401
    from hiprom.backends.faces import keep_detectors
    from hiprom.backends.mediapipe import preload

    preload(keep_searcher=True)
    keep_detectors()


def score_job(job: Job) -> OutcomeRecord:
    """Measure one input and write its result files; never raises for a bad input.

    Runs in a worker. Expected problems (:class:`HipromError`) become a failed outcome
    with their one-line message; anything else too, with the exception's type, so one
    bad file never stops a batch.
    """
    t0 = time.perf_counter()
    try:
        from hiprom._native import native_stderr_silenced
        from hiprom.media.document import result_document
        from hiprom.media.outputs import write_outputs
        from hiprom.media.sinks import to_jsonable, write_json_atomic
        from hiprom.pipeline.measure import measure_path

        # An input named by a URL is read through fsspec (a local copy while it is measured).
        with local_copy(job.path) as local:
            _check_duration(replace(job, path=str(local)))
            # A pool worker's stderr is the user's terminal: keep FFmpeg/LiteRT chatter off it.
            with native_stderr_silenced(in_pool_worker()):
                measurement = measure_path(local, options=job.options, sha256=job.sha256)
                # Faces are blurred in the key frame and every annotated frame alike.
                files = write_outputs(measurement, Path(job.out_dir), annotate=job.annotate,
                                      blur_faces=job.blur_faces)
        if is_url(job.path):  # the result names the input as the batch was given it
            measurement = replace(measurement,
                                  source=replace(measurement.source, path=job.path))
            write_json_atomic(files[0], result_document(measurement))
        result = to_jsonable(result_document(measurement))
    except HipromError as err:
        return failed_outcome(job, err, compute_s=time.perf_counter() - t0)
    except OSError as err:  # no permission, a full disk, a file where the folder should be
        reason = describe_os_error(err, job.out_dir)
        if reason is None:
            log.debug("unexpected error on %s", job.path, exc_info=True)
        return failed_outcome(job, err, compute_s=time.perf_counter() - t0, message=reason)
    except Exception as err:  # noqa: BLE001 - isolate one file's bug from the batch
        log.debug("unexpected error on %s", job.path, exc_info=True)
        return failed_outcome(job, err, compute_s=time.perf_counter() - t0)
    n_frames = int((result.get("source") or {}).get("n_frames") or 0)
    return OutcomeRecord(job.sha256, ok=True, result=result, output_dir=job.out_dir,
                         output_files=tuple(str(f) for f in files), n_frames=n_frames,
                         compute_s=time.perf_counter() - t0, worker=worker_name())


def score_job_shipped(job: Job) -> tuple[OutcomeRecord, dict[str, bytes]]:
    """:func:`score_job` on a worker that need not see the driver's output folder (Dask).

    The result files are written into a temporary folder on the worker and travel back
    with the outcome; the driver writes them into ``job.out_dir``
    (:func:`receive_shipped`), so the workers need no shared folder for outputs.
    """
    with tempfile.TemporaryDirectory(prefix="hiprom-out-") as tmp:
        outcome = score_job(replace(job, out_dir=tmp))
        files = {Path(f).name: Path(f).read_bytes() for f in outcome.output_files}
    if not outcome.ok:
        return outcome, {}
    named = tuple(str(Path(job.out_dir) / name) for name in files)
    return replace(outcome, output_dir=job.out_dir, output_files=named), files


def receive_shipped(on_outcome: OutcomeCallback) -> Callable[[Job, Any], None]:
    """Driver side of :func:`score_job_shipped`: write the files, then pass the outcome on."""
    from hiprom.media.sinks import AtomicFiles, write_bytes_atomic

    def receive(job: Job, shipped: Any) -> None:
        if not isinstance(shipped, tuple):  # a failure the engine reported itself
            on_outcome(job, shipped)
            return
        outcome, files = shipped
        try:
            with AtomicFiles() as group:  # a video's files appear together or not at all
                for name, data in files.items():
                    write_bytes_atomic(Path(job.out_dir) / name, data, group=group)
        except OSError as err:
            outcome = failed_outcome(job, err, message=describe_os_error(err, job.out_dir))
        on_outcome(job, outcome)

    return receive


# --------------------------------------------------------------------------- driver


def _output_dir(out_dir: Path, record: InputRecord) -> Path:
    return out_dir / "videos" / f"{Path(record.path).stem}-{record.sha256[:12]}"


def _manifest_side(record: InputRecord) -> TestedSide | None:
    """The manifest's ``side_tested`` for this input, in the manifest's own vocabulary."""
    side = SIDE_WORDS.get((record.side_tested or "").strip().lower())
    return None if side is None else TestedSide(side)


def _options_for(record: InputRecord, options: MeasureOptions) -> MeasureOptions:
    """The batch's options, with the manifest's ``side_tested`` (left/right/both) if given."""
    side = _manifest_side(record)
    return options if side is None else replace(options, side=side)


def _keyed_by_side(record: InputRecord, options: MeasureOptions) -> InputRecord:
    """The record keyed by what its numbers depend on: its content, and its tested side.

    The manifest's side changes which leg is scored, so a side changed between runs, or two
    copies of one file given different sides, must not share one stored result (the table
    had named one leg and held the other's value). The side joins the key only when it
    differs from the batch's own ``--side``.
    """
    side = _manifest_side(record)
    if side is None or side is options.side or record.sha256.startswith("unreadable:"):
        return record
    return replace(record, sha256=f"{record.sha256}:{side.value}")


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
                options=_options_for(record, config.options), annotate=config.annotate,
                blur_faces=config.blur_faces, max_duration_s=config.max_duration_s,
                expected_frames=frames,
            )
    # Longest first: a long file started last would leave the other workers idle at the end.
    ordered = sorted(jobs.values(), key=lambda job: -job.expected_frames)
    return ordered, unreadable, skipped


def _engine(config: BatchConfig) -> Callable[[Sequence[Job], ScoreFn, OutcomeCallback], None]:
    if config.scheduler:
        address = config.scheduler
        # The real scorer's files come back with the outcome and the driver writes them,
        # so Dask workers need not see the output folder (tests pass light fakes).
        return lambda jobs, fn, cb: (
            run_dask(jobs, cast(ScoreFn, score_job_shipped),
                     cast(OutcomeCallback, receive_shipped(cb)), address=address)
            if fn is score_job else run_dask(jobs, fn, cb, address=address))
    workers = config.workers or os.cpu_count() or 1
    # Warming up pays off for the real scorer only (tests pass light fakes).
    return lambda jobs, fn, cb: run_local(jobs, fn, cb, workers=workers,
                                          warm=warm_worker if fn is score_job else None)


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
        BatchBusyError: another batch is writing to ``out_dir``.

    """
    if config.annotate and config.options.adaptive:
        # An annotated video shows every frame, so every frame is analysed.
        config = replace(config, options=replace(config.options, every_frame=True))
    # Absolute, like the input paths: the store and results.csv name folders that any
    # working directory can open.
    config = replace(config, out_dir=Path(os.path.abspath(config.out_dir)))
    inputs = collect_inputs(config.sources, id_pattern=config.id_pattern,
                            exclude=config.out_dir)
    if not inputs:
        raise InputError(f"no video found in {', '.join(config.sources)}; pass folders, "
                         "globs or a manifest CSV with a 'path' column")
    with _out_dir_lock(config.out_dir):
        return _run_locked(config, inputs, score_fn=score_fn, on_planned=on_planned,
                           on_outcome=on_outcome)


def _run_locked(config: BatchConfig, inputs: Sequence[BatchInput], *, score_fn: ScoreFn,
                on_planned: Callable[[Sequence[Job], int], None] | None,
                on_outcome: OutcomeCallback | None) -> BatchReport:
    """:func:`run_batch` once the output folder is locked."""
    engine = _engine(config)
    settings = settings_dict(config)
    key = settings_key(settings)
    store_path = config.out_dir / DEFAULT_STORE_NAME
    report = BatchReport(n_inputs=len(inputs), store_path=store_path)
    with ResultStore(store_path) as store:
        run_id = store.begin_run(hiprom_version=__version__, settings_key=key, settings=settings)
        records = [(_keyed_by_side(r, config.options), frames, reason)
                   for r, frames, reason in fingerprint_all(inputs)]
        store.record_inputs([r for r, _, _ in records], run_id=run_id)
        jobs, unreadable, report.n_skipped = _plan(records, store.statuses(key), config)
        report.run_now = {job.sha256 for job in jobs} | {r.sha256 for r, _ in unreadable}
        from hiprom.media.sinks import remove_stale_parts

        for job in jobs:  # a run killed with -9 could not remove its temporary files
            remove_stale_parts(job.out_dir)
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
        report.failures = [(s.input.path, s.failure) for s in report.results
                           if s.status != "ok"]
        count = report.tally()  # by input path, as the terminal's count line: they add up
        store.finish_run(run_id, n_inputs=len(inputs), n_scored=count.scored_now,
                         n_skipped=count.from_store, n_failed=count.failed)
    from hiprom.batch.summary import write_exports

    report.exports = write_exports(report.results, config.out_dir)
    return report

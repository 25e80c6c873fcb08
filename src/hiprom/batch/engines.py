"""Batch engines: run jobs on a pool of local processes or on a Dask cluster.

An engine takes the jobs, the per-job function (run in workers) and a callback (run in the
driver, once per outcome). :mod:`hiprom.batch.run` re-exports the public names.
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hiprom.batch.store import OutcomeRecord
from hiprom.errors import HipromError, MissingExtraError
from hiprom.pipeline.analysis import MeasureOptions

__all__ = [
    "Job",
    "OutcomeCallback",
    "ScoreFn",
    "failed_outcome",
    "in_pool_worker",
    "run_dask",
    "run_local",
    "worker_name",
]

#: Set in local pool workers (see ``_init_worker``); never in the driver or a Dask thread.
_IN_POOL_WORKER = False

ScoreFn = Callable[["Job"], OutcomeRecord]
OutcomeCallback = Callable[["Job", OutcomeRecord], None]


@dataclass(frozen=True)
class Job:
    """One unit of work sent to a worker; plain data, so it pickles across processes.

    Attributes:
        path: the input file.
        sha256: its content hash.
        out_dir: folder for this input's result files.
        options: how to measure.
        annotate: also write an annotated video.
        blur_faces: blur every face in the images written (key frame, annotated video).
        max_duration_s: refuse clips longer than this (None: no limit).
        expected_frames: frames the container declares (0 when unknown); for progress.

    """

    path: str
    sha256: str
    out_dir: str
    options: MeasureOptions = MeasureOptions()
    annotate: bool = False
    blur_faces: bool = True
    max_duration_s: float | None = None
    expected_frames: int = 0


def worker_name() -> str:
    """Return ``host:pid`` of this process, as outcomes record it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def failed_outcome(job: Job, err: BaseException, *, compute_s: float = 0.0,
                   message: str | None = None) -> OutcomeRecord:
    """Return the outcome of a job that raised ``err`` (one line, no traceback).

    ``message`` replaces the exception's own text (e.g. a file-system error put in words).
    """
    if message is None:
        message = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
    return OutcomeRecord(job.sha256, ok=False, error_type=type(err).__name__,
                         error_message=message, compute_s=compute_s, worker=worker_name())


#: How often a worker checks that its driver still lives, seconds.
_PARENT_CHECK_S = 0.5


def _die_with_parent(driver_pid: int | None = None) -> None:
    """Make this worker die with the driver that started it, even after a ``kill -9``.

    On Linux the kernel sends SIGKILL when the parent dies (``PR_SET_PDEATHSIG``); on every
    system a daemon thread exits the process once its parent id changes (the orphan is
    re-parented). Without this a killed driver left its ~320 MB workers running.

    ``driver_pid`` is the driver's pid as the driver saw it: a worker still importing when
    its driver was killed has already been re-parented when this runs, and would otherwise
    take its new parent for the driver.
    """
    parent = os.getppid() if driver_pid is None else driver_pid
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the driver died before the line above ran
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="hiprom-driver-watch", daemon=True).start()


#: Set when the driver stopped this worker (SIGTERM); see ``_exit_without_teardown``.
_STOPPED = False


def _stop_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM from the driver: unwind, so temporary files are removed on the way out."""
    global _STOPPED
    _STOPPED = True
    raise SystemExit(128 + signum)


def _exit_without_teardown() -> None:
    """At a pool worker's exit (``atexit``): end the process without tearing it down.

    By the time it runs, the worker has sent its last outcome and multiprocessing has done
    its own exit work; what is left is the interpreter freeing every module and MediaPipe
    closing the kept networks, about 70 ms of CPU that the driver waits for at the end of
    every batch. Not after SIGTERM (the driver stopping a run): that exit keeps its code
    and its usual path.
    """
    if _STOPPED:
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)


def _init_worker(warm: Callable[[], None] | None = None,
                 driver_pid: int | None = None) -> None:
    """Worker start-up: die with the driver, leave Ctrl-C to it, one native thread each.

    Then ``warm`` pays what every job would otherwise pay first (imports, reading the
    model); a failure there is left for the jobs to report, one line each. The driver-death
    and signal set-up come first, so a worker still warming up also dies with its driver and
    stops on SIGTERM. A worker that finishes normally exits without the interpreter's
    teardown (``_exit_without_teardown``).
    """
    import cv2

    global _IN_POOL_WORKER
    _die_with_parent(driver_pid)
    # Ctrl-C reaches the whole process group; the driver handles it and stops the workers
    # with SIGTERM, which unwinds them (temporary output files are removed).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    atexit.register(_exit_without_teardown)
    # One process per core already uses every core; OpenCV's own threads only compete.
    cv2.setNumThreads(1)
    os.environ.setdefault("GLOG_minloglevel", "2")
    _IN_POOL_WORKER = True
    if warm is not None:
        try:
            warm()
        except Exception:  # noqa: BLE001 - each job reports the problem itself
            pass


def in_pool_worker() -> bool:
    """Return whether this process is a local pool worker (set by ``_init_worker``)."""
    return _IN_POOL_WORKER


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


def _check_pool_starts(pool: Any, workers: int) -> None:
    """Start all ``workers`` at once; fail the whole batch when they cannot even start.

    One ping per worker, submitted together: the pool spawns a process for each ping that
    finds no idle worker, so the workers start (and warm up) side by side.
    """
    from concurrent.futures.process import BrokenProcessPool

    try:
        for ping in [pool.submit(_ping) for _ in range(workers)]:
            ping.result()
    except BrokenProcessPool as err:
        raise HipromError(
            "could not start worker processes; a script that calls run_batch must guard "
            "it with `if __name__ == '__main__':`, or use --workers 1 to see the error"
        ) from err


def _stop_workers(pool: Any, timeout_s: float = 10.0) -> None:
    """Ask every worker of ``pool`` to stop (SIGTERM unwinds it) and wait for it, briefly."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + timeout_s
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()


def run_local(jobs: Sequence[Job], score_fn: ScoreFn, on_outcome: OutcomeCallback, *,
              workers: int, warm: Callable[[], None] | None = None) -> None:
    """Run jobs on a pool of ``workers`` local processes, calling ``on_outcome`` per job.

    The workers start together and each runs ``warm`` (a module-level function) once
    when it starts, so imports and the model are loaded once per process, not per job.
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
        pool = ProcessPoolExecutor(n, mp_context=context, initializer=_init_worker,
                                   initargs=(warm, os.getpid()))
        try:
            _check_pool_starts(pool, n)
            _drain(pool, queue, score_fn, on_outcome, n)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            _stop_workers(pool)
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

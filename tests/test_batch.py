"""hiprom batch: inputs, resuming, crashes, kill -9, Dask, and bad files mixed with good ones.

The engine tests use a fake per-file scorer, written into ``tmp_path`` as a module so the
spawned worker processes can import it; the CLI test runs the real pipeline and model.
"""

import csv
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from builders import blank_clip
from hiprom.app.headless import default_sigint
from hiprom.batch.run import (
    BatchConfig,
    collect_inputs,
    run_batch,
    run_dask,
    sha256_file,
)
from hiprom.batch.store import DEFAULT_STORE_NAME, LEG_COLUMNS
from hiprom.errors import InputError, MissingExtraError

FAKE_SCORING = '''
"""Fake scorer for the batch tests: the file's text says what to do."""
import os
import time
from pathlib import Path

from hiprom.batch.store import OutcomeRecord

CALLS = Path(os.environ.get("FAKE_CALLS_LOG", os.devnull))


def _leg(ir):
    return {"internal_rotation_deg": ir, "internal_rotation_ci95_deg": 1.2,
            "external_rotation_deg": None, "external_rotation_ci95_deg": None,
            "verdict": {"code": "typical"}, "quality": [], "reps": []}


def score(job):
    words = Path(job.path).read_text().split()
    with CALLS.open("a") as fh:
        fh.write(job.path + "\\n")
    if "CRASH" in words:
        os._exit(3)
    if "SLOW" in words:
        time.sleep(float(words[words.index("SLOW") + 1]))
    if "FAIL" in words:
        return OutcomeRecord(job.sha256, ok=False, error_type="MeasurementError",
                             error_message="no person found")
    left, right = (float(w) for w in words[words.index("IR") + 1:][:2])
    doc = {"schema": "hiprom-result/2", "hiprom_version": "test", "source": {"n_frames": 10},
           "model": {"name": "fake", "sha256": "0"},
           "legs": {"left": _leg(left), "right": _leg(right)}, "asymmetry_deg": left - right,
           "asymmetry": {"difference_deg": abs(left - right),
                         "exceeds_error": abs(left - right) > 5,
                         "restricted_side": "right" if right < left else "left"},
           "quality": []}
    return OutcomeRecord(job.sha256, ok=True, result=doc, n_frames=10, worker=str(os.getpid()),
                         output_dir=job.out_dir)
'''

RUNNER_SCRIPT = '''
import sys
from pathlib import Path

import fake_scoring
from hiprom.batch.run import BatchConfig, run_batch

if __name__ == "__main__":
    config = BatchConfig(sources=(sys.argv[1],), out_dir=Path(sys.argv[2]), workers=2)
    sys.exit(run_batch(config, score_fn=fake_scoring.score).exit_code)
'''


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """The fake scorer module (importable by spawned workers) and its call log."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "fake_scoring.py").write_text(FAKE_SCORING)
    (lib / "run_fake_batch.py").write_text(RUNNER_SCRIPT)
    monkeypatch.syspath_prepend(str(lib))
    calls = tmp_path / "calls.log"
    monkeypatch.setenv("FAKE_CALLS_LOG", str(calls))
    import fake_scoring

    fake_scoring.CALLS = calls
    return fake_scoring, calls, lib


def write_inputs(folder, specs):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in specs.items():
        (folder / name).write_text(text)
    return folder


def calls_of(log):
    return log.read_text().splitlines() if log.exists() else []


def read_results_csv(out):
    with (out / "results.csv").open() as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- inputs


def test_folder_is_searched_recursively_for_videos_and_photos(tmp_path):
    write_inputs(tmp_path / "in", {"a.mp4": "x", "b.MOV": "y", "notes.txt": "z",
                                   "p.JPG": "j"})
    write_inputs(tmp_path / "in" / "sub", {"c.webm": "w", "d.json": "{}", "e.png": "p"})
    names = [p.path.name for p in collect_inputs([tmp_path / "in"])]
    assert names == ["a.mp4", "b.MOV", "p.JPG", "c.webm", "e.png"]


def test_globs_files_and_duplicates(tmp_path):
    write_inputs(tmp_path / "in", {"P1_a.mp4": "x", "P2_b.mp4": "y", "P2_b.txt": "z"})
    found = collect_inputs([str(tmp_path / "in" / "P*"), tmp_path / "in" / "P1_a.mp4"])
    assert [p.path.name for p in found] == ["P1_a.mp4", "P2_b.mp4"]


def test_manifest_paths_are_relative_to_it_and_carry_ids(tmp_path):
    write_inputs(tmp_path / "clips", {"one.mp4": "x", "two.mp4": "y"})
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,patient_id,session_date,side_tested,notes,extra\n"
                        "clips/one.mp4,P001,2026-01-02,left,first visit,ignored\n"
                        f"{tmp_path / 'clips' / 'two.mp4'},,,,,\n")
    one, two = collect_inputs([manifest], id_pattern=r"(?P<id>t\w+)\.mp4")
    assert one.path == tmp_path / "clips" / "one.mp4"
    assert (one.patient_id, one.session_date, one.side_tested, one.notes) == (
        "P001", "2026-01-02", "left", "first visit")
    assert two.patient_id == "two", "the id pattern fills ids the manifest left empty"


@pytest.mark.parametrize(("pattern", "message"), [
    ("(?P<id>P\\d+", "not a valid regex"),  # unbalanced parenthesis
    ("P\\d+", "named group"),  # no group called id
])
def test_bad_id_pattern_is_a_clear_error(tmp_path, pattern, message):
    with pytest.raises(InputError, match=message):
        collect_inputs([tmp_path], id_pattern=pattern)


def test_manifest_without_path_column_is_refused(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,patient_id\na.mp4,P1\n")
    with pytest.raises(InputError, match="'path' column"):
        collect_inputs([manifest])


@pytest.mark.reliability(case="a manifest saved by a spreadsheet as Windows-1252 (not UTF-8), "
                              "or holding a NUL byte",
                         outcome="exit 1, one line: save it as CSV UTF-8 / it is not a CSV "
                                 "text file (was: a UnicodeDecodeError traceback)")
@pytest.mark.parametrize(("data", "message"), [
    ("path,notes\nclip.mp4,café\n".encode("cp1252"), "CSV UTF-8"),
    (b"path,notes\nclip\x00.mp4,ab\n", "not a CSV text file"),
])
def test_a_manifest_that_is_not_utf8_text_is_a_one_line_error(tmp_path, data, message):
    manifest = tmp_path / "m.csv"
    manifest.write_bytes(data)
    with pytest.raises(InputError, match=message):
        collect_inputs([manifest])
    result = CliRunner().invoke(cli_app(), ["batch", str(manifest), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and result.output.startswith("error: manifest ")
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_longest_inputs_are_scheduled_first(tmp_path):
    from hiprom.batch.run import _plan
    from hiprom.batch.store import InputRecord

    records = [(InputRecord(f"/v/{name}.mp4", name * 64), frames, None)
               for name, frames in (("a", 300), ("b", 9000), ("c", 0), ("d", 1200))]
    jobs, unreadable, skipped = _plan(records, {}, BatchConfig(sources=("x",), out_dir=tmp_path))
    assert [Path(j.path).stem for j in jobs] == ["b", "d", "a", "c"]
    assert unreadable == [] and skipped == 0


@pytest.mark.parametrize(("flags", "every_frame"), [
    ([], False),                    # adaptive sampling by default
    (["--every-frame"], True),
    (["--annotate"], True),         # an annotated video shows every frame
    (["--fast"], False),            # retired: a note, then the default
])
def test_cli_sampling_flags_reach_the_batch_settings(tmp_path, monkeypatch, flags, every_frame):
    import hiprom.cli.batch
    from hiprom.batch.run import BatchReport

    seen = []

    def fake_run_batch(config, **_):
        seen.append(config)
        return BatchReport()

    monkeypatch.setattr(hiprom.cli.batch, "run_batch", fake_run_batch)
    result = CliRunner().invoke(cli_app(), ["batch", str(tmp_path), "-q", *flags])
    assert result.exit_code == 0, result.output
    [config] = seen
    assert config.options.every_frame is every_frame
    assert config.options.adaptive is not every_frame
    assert config.options.max_fps is None
    assert ("--fast is retired" in result.output) is ("--fast" in flags)


def test_cli_every_frame_and_stride_conflict(tmp_path):
    result = CliRunner().invoke(cli_app(), ["batch", str(tmp_path), "-q", "--every-frame",
                                            "--stride", "2"])
    assert result.exit_code == 2 and "--stride" in result.output


def test_the_second_network_reaches_the_options_and_keys_its_results_apart(tmp_path,
                                                                           monkeypatch):
    import hiprom.cli.batch
    from hiprom.batch.run import BatchReport, settings_dict
    from hiprom.batch.store import settings_key

    seen = []
    monkeypatch.setattr(hiprom.cli.batch, "run_batch",
                        lambda config, **_: seen.append(config) or BatchReport())
    for flags in ([], ["--second-network"]):
        result = CliRunner().invoke(cli_app(), ["batch", str(tmp_path), "-q", *flags])
        assert result.exit_code == 0, result.output
    plain, second = seen
    assert not plain.options.second_network and second.options.second_network
    # Off, the settings are those of stores made before the option existed (their results
    # stay reusable); on, they differ, so a plain result is never served for it.
    assert "second_network" not in settings_dict(plain)["options"]
    assert settings_dict(second)["options"]["second_network"] is True
    assert settings_dict(second)["options"]["second_network_sha256"]
    assert settings_key(settings_dict(plain)) != settings_key(settings_dict(second))


def test_annotated_batch_analyses_every_frame(tmp_path, fake):
    from hiprom.pipeline.analysis import MeasureOptions

    fake_scoring, _, _ = fake
    folder = write_inputs(tmp_path / "in", {"a.mp4": "IR 40 38"})
    planned = []
    config = BatchConfig(sources=(str(folder),), out_dir=tmp_path / "out", workers=1,
                         annotate=True, options=MeasureOptions())
    report = run_batch(config, score_fn=fake_scoring.score,
                       on_planned=lambda jobs, skipped: planned.extend(jobs))
    assert report.exit_code == 0
    assert [job.options.every_frame for job in planned] == [True]


def test_sha256_is_of_the_content(tmp_path):
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    a.write_bytes(b"same" * 500_000)
    b.write_bytes(b"same" * 500_000)
    assert sha256_file(a) == sha256_file(b)
    b.write_bytes(b"Same" * 500_000)
    assert sha256_file(a) != sha256_file(b)


# --------------------------------------------------------------------------- engine


@pytest.mark.reliability(case="identical bytes under two names; a file edited between runs",
                         outcome="scored once and reported under both names; the edited one is "
                                 "scored again")
def test_batch_scores_skips_done_and_rescores_changed(tmp_path, fake):
    module, calls, _ = fake
    src = write_inputs(tmp_path / "in", {"P1_a.mp4": "IR 40 30", "P2_b.mp4": "IR 38 37",
                                         "P3_c.mp4": "FAIL", "P4_d.mp4": "IR 40 30"})
    out = tmp_path / "out"
    config = BatchConfig(sources=(str(src),), out_dir=out, workers=2,
                         id_pattern=r"(?P<id>P\d+)_")
    report = run_batch(config, score_fn=module.score)
    assert report.exit_code == 1 and report.n_scored == 2
    assert [Path(p).name for p, _ in report.failures] == ["P3_c.mp4"]
    assert "no person found" in report.failures[0][1]
    # P1 and P4 have the same bytes: scored once, reported for both paths.
    assert len(calls_of(calls)) == 3
    rows = read_results_csv(out)
    assert list(rows[0])[:2] == ["path", "leg"] and tuple(rows[0]) == LEG_COLUMNS
    assert len(rows) == 8
    assert {r["patient_id"] for r in rows} == {"P1", "P2", "P3", "P4"}
    assert (out / "summary.html").is_file()

    again = run_batch(config, score_fn=module.score)
    assert again.n_scored == 0 and again.n_skipped == 4 and again.exit_code == 1
    assert len(calls_of(calls)) == 3, "a re-run must not score anything again"

    (src / "P2_b.mp4").write_text("IR 20 37")
    (src / "P3_c.mp4").write_text("IR 41 41")
    changed = run_batch(config, score_fn=module.score)
    assert changed.n_scored == 2 and changed.exit_code == 0
    rows = {(Path(r["path"]).name, r["leg"]): r for r in read_results_csv(out)}
    assert float(rows[("P2_b.mp4", "left")]["internal_rotation_deg"]) == 20.0
    assert rows[("P3_c.mp4", "left")]["status"] == "ok"


def test_the_count_line_counts_each_input_once(tmp_path, fake):
    """Scored now + already in the store + failed = the inputs, on a first run and a re-run.

    A re-run had counted a file that failed earlier as both "already in the store" and
    "failed", and a file with another's bytes as "already in the store" on its first run.
    """
    import io

    from rich.console import Console

    from hiprom.cli.batch import _print_report

    module, _, _ = fake
    src = write_inputs(tmp_path / "in", {"a.mp4": "IR 40 30", "b.mp4": "IR 38 37",
                                         "c.mp4": "FAIL", "d.mp4": "IR 40 30"})
    config = BatchConfig(sources=(str(src),), out_dir=tmp_path / "out", workers=1)

    def line(report):
        text = io.StringIO()
        console = Console(file=text, width=200)
        _print_report(report, console, Console(file=io.StringIO()), quiet=False)
        return text.getvalue().splitlines()[0]

    first = run_batch(config, score_fn=module.score)
    assert tuple(first.tally()) == (3, 0, 1, 0, 1)
    assert line(first) == ("4 inputs: 3 scored now, 0 already in the store, 1 failed; "
                           "1 with the same content as another input (scored once)")
    again = run_batch(config, score_fn=module.score)
    assert tuple(again.tally()) == (0, 3, 1, 1, 1)
    assert line(again).startswith("4 inputs: 0 scored now, 3 already in the store, 1 failed "
                                  "(1 in an earlier run; --retry-failed tries again)")
    from dataclasses import replace

    retried = run_batch(replace(config, retry_failed=True), score_fn=module.score)
    assert tuple(retried.tally()) == (0, 3, 1, 0, 1)
    # The store's record of each run counts the same way.
    with sqlite3.connect(tmp_path / "out" / DEFAULT_STORE_NAME) as db:
        runs = db.execute("SELECT n_inputs, n_scored, n_skipped, n_failed FROM runs "
                          "ORDER BY run_id").fetchall()
    assert runs == [(4, 3, 0, 1), (4, 0, 3, 1), (4, 0, 3, 1)]


def test_failed_inputs_are_retried_only_when_asked(tmp_path, fake):
    module, calls, _ = fake
    src = write_inputs(tmp_path / "in", {"a.mp4": "FAIL"})
    config = BatchConfig(sources=(str(src),), out_dir=tmp_path / "out", workers=1)
    run_batch(config, score_fn=module.score)
    run_batch(config, score_fn=module.score)
    assert len(calls_of(calls)) == 1
    from dataclasses import replace

    run_batch(replace(config, retry_failed=True), score_fn=module.score)
    assert len(calls_of(calls)) == 2


@pytest.mark.reliability(case="a worker process crashing on one file",
                         outcome="that file fails as WorkerCrashed; the others score")
def test_a_crashing_worker_fails_its_file_only(tmp_path, fake):
    module, _, _ = fake
    src = write_inputs(tmp_path / "in", {f"ok{i}.mp4": f"SLOW 0.2 IR 40 {30 + i}"
                                         for i in range(4)} | {"boom.mp4": "CRASH"})
    report = run_batch(BatchConfig(sources=(str(src),), out_dir=tmp_path / "out", workers=2),
                       score_fn=module.score)
    assert report.n_scored == 4
    assert [(Path(p).name, r.split(":")[0]) for p, r in report.failures] == [
        ("boom.mp4", "WorkerCrashed")]


@pytest.mark.reliability(case="a batch input that is missing",
                         outcome="recorded as failed with 'cannot read'; the others score")
def test_missing_and_unreadable_files_are_recorded_not_fatal(tmp_path, fake):
    module, _, _ = fake
    src = write_inputs(tmp_path / "in", {"good.mp4": "IR 40 40"})
    report = run_batch(BatchConfig(sources=(str(src), str(tmp_path / "gone.mp4")),
                                   out_dir=tmp_path / "out", workers=1), score_fn=module.score)
    assert report.n_scored == 1
    assert [Path(p).name for p, _ in report.failures] == ["gone.mp4"]
    assert "cannot read" in report.failures[0][1]


def test_no_input_is_a_clear_error(tmp_path, fake):
    module, _, _ = fake
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no video found"):
        run_batch(BatchConfig(sources=(str(tmp_path / "empty"),), out_dir=tmp_path / "out"),
                  score_fn=module.score)


def db_count(db_path):
    if not db_path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


@pytest.mark.reliability(case="`kill -9` of a batch (driver and workers) mid-run, then a rerun",
                         outcome="every input recorded exactly once; committed ones are not "
                                 "scored again")
def test_kill_9_mid_run_then_rerun_gives_every_result_exactly_once(tmp_path, fake):
    _, calls, lib = fake
    n = 8
    src = write_inputs(tmp_path / "in", {f"v{i}.mp4": f"SLOW 0.5 IR 40 {20 + i}"
                                         for i in range(n)})
    out = tmp_path / "out"
    cmd = [sys.executable, str(lib / "run_fake_batch.py"), str(src), str(out)]
    env = os.environ | {"PYTHONPATH": str(lib)}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = out / DEFAULT_STORE_NAME
    deadline = time.monotonic() + 60
    while db_count(db) < 1 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, mid-run
    proc.wait()
    committed = db_count(db)
    assert 1 <= committed < n, "the kill must land after the first commit and before the end"
    scored_before = len(calls_of(calls))

    rerun = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr.decode()[-2000:]
    with sqlite3.connect(db) as conn:
        per_hash = conn.execute("SELECT input_sha256, COUNT(*) FROM results GROUP BY 1").fetchall()
        paths = [r[0] for r in conn.execute("SELECT path FROM inputs")]
    assert len(per_hash) == n and all(count == 1 for _, count in per_hash)
    assert sorted(Path(p).name for p in paths) == sorted(f"v{i}.mp4" for i in range(n))
    rows = read_results_csv(out)
    assert len(rows) == 2 * n and all(r["status"] == "ok" for r in rows)
    rescored = calls_of(calls)[scored_before:]
    assert len(rescored) == n - committed, "committed results must not be scored again"


def test_dask_local_cluster_results_land_in_the_same_store(tmp_path, fake):
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    module, _, _ = fake
    src = write_inputs(tmp_path / "in", {"a.mp4": "IR 40 30", "b.mp4": "FAIL",
                                         "c.mp4": "IR 36 35"})
    # processes=False: scheduler and worker live in this process (inproc://, no sockets).
    with LocalCluster(processes=False, n_workers=1, threads_per_worker=2,
                      dashboard_address=None) as cluster:
        config = BatchConfig(sources=(str(src),), out_dir=tmp_path / "out",
                             scheduler=cluster.scheduler_address)
        report = run_batch(config, score_fn=module.score)
    assert report.n_scored == 2 and report.exit_code == 1
    with sqlite3.connect(tmp_path / "out" / DEFAULT_STORE_NAME) as db:
        assert db.execute("SELECT status, COUNT(*) FROM results GROUP BY 1 ORDER BY 1"
                          ).fetchall() == [("failed", 1), ("ok", 2)]


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingExtraError, match=r'pip install "hiprom\[dask\]"'):
        run_dask([], lambda job: None, lambda job, outcome: None, address="tcp://127.0.0.1:1")


# --------------------------------------------------------------------------- CLI, real model


def cli_app():
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test root, so that `batch` stays a sub-command."""

    from hiprom.cli.batch import register

    register(app)
    return app


@pytest.mark.reliability(case="a batch mixing 0-byte, text, cut-short, nobody-in-view, 4K, "
                              "rotated portrait and 20-minute clips with a good one",
                         outcome="each bad file fails alone with its own reason; the good one "
                                 "scores; exit 1")
def test_cli_bad_inputs_never_stop_the_good_one(tmp_path, synth_media):
    footage = Path(__file__).resolve().parents[2] / "shared" / "footage"
    floor = footage / "04_seated_floor_knees_bent_handheld_2p5s.mp4"   # not the seated test
    good = Path(__file__).resolve().parents[1] / "samples" / "seated_ir_left_right.mp4"
    src = tmp_path / "in"
    src.mkdir()
    (src / "zero.mp4").write_bytes(b"")
    (src / "text.mp4").write_text("not a video at all\n")
    whole = blank_clip(tmp_path / "whole.mp4", 20, resolution_wh=(160, 120)).read_bytes()
    (src / "corrupt.mp4").write_bytes(whole[: len(whole) // 2])  # cut short: no index
    blank_clip(src / "nobody.mp4", 15, resolution_wh=(160, 120))
    blank_clip(src / "uhd_4k.mp4", 3, resolution_wh=(3840, 2160))
    rotated = synth_media.rotated_video(90, name="portrait.mp4", n_frames=10,
                                        resolution_wh=(96, 64))
    rotated.rename(src / "portrait.mp4")
    # 20 minutes at 1 fps
    blank_clip(src / "twenty_min.mp4", 1200, resolution_wh=(64, 48), fps=1.0)
    if good.exists():
        (src / "good.mp4").symlink_to(good)
    if floor.exists():
        (src / "floor.mp4").symlink_to(floor)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli_app(), ["batch", str(src), "-o", str(out), "--workers", "2",
                                            "--max-duration", "900"])
    assert result.exit_code == 1, result.output
    rows = {(Path(r["path"]).name, r["leg"]): r for r in read_results_csv(out)}
    bad = ["zero.mp4", "text.mp4", "corrupt.mp4", "nobody.mp4", "uhd_4k.mp4", "portrait.mp4",
           "twenty_min.mp4"]
    for name in bad:
        assert rows[(name, "left")]["status"] == "failed", name
        assert rows[(name, "left")]["error"], name
        # one line per failed input: its path once, then why, without the error's class
        (line,) = [ln for ln in result.output.splitlines() if ln.startswith("  ") and name in ln]
        assert line.count(str(src / name)) == 1 and "Error:" not in line, line
    assert "lasts 20.0 min" in rows[("twenty_min.mp4", "left")]["error"]
    assert "empty" in rows[("zero.mp4", "left")]["error"]
    if good.exists():
        assert rows[("good.mp4", "left")]["status"] == "ok"
        assert rows[("good.mp4", "left")]["internal_rotation_deg"]
        result_dir = Path(rows[("good.mp4", "left")]["output_dir"])
        assert (result_dir / "good.json").is_file() and (result_dir / "good.csv").is_file()
    if floor.exists():   # read and measured, but refused with its reason and no value
        row = rows[("floor.mp4", "left")]
        assert row["status"] == "refused" and "floor" in row["protocol_reason"]
        assert not row["internal_rotation_deg"] and not row["verdict"]
        # the terminal says so too, with the reason (it counted it as scored, silently)
        assert "; 1 not the seated test (no value)" in result.output
        (line,) = [ln for ln in result.output.splitlines()
                   if ln.startswith("  not the seated test: ")]
        assert f"{src / 'floor.mp4'}: {row['protocol_reason']}" in line, line


def test_cli_exit_0_when_all_scored_and_quiet_prints_nothing(tmp_path, real_footage):
    still = real_footage / "01_seated_floor_knees_bent.jpg"
    if not still.exists():
        pytest.skip("real still is absent")
    out = tmp_path / "out"
    args = ["batch", str(still), "-o", str(out), "--workers", "1", "--quiet"]
    first = CliRunner().invoke(cli_app(), args)
    assert first.exit_code == 0, first.output
    assert first.output == ""
    second = CliRunner().invoke(cli_app(), args[:-1])
    assert second.exit_code == 0
    assert "1 already in the store" in second.output


# --------------------------------------------------------------------------- hostile text

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMERIC_COLUMNS = {"internal_rotation_deg", "internal_rotation_ci95_deg", "external_rotation_deg",
                   "external_rotation_ci95_deg", "asymmetry_deg", "n_reps"}


@pytest.mark.reliability(case="hostile manifest (formulas in patient_id, notes, session_date) "
                         "and file names starting with = + - @",
                         outcome="results.csv cells are quoted text; angles stay numbers")
def test_hostile_manifest_and_names_cannot_inject_formulas(tmp_path, fake):
    module, _, _ = fake
    names = ["=HYPERLINK(1).mp4", "@evil.mp4", "-dash.mp4", "+plus.mp4"]
    write_inputs(tmp_path / "in", {name: f"IR -5 {30 + i}" for i, name in
                                     enumerate(names)} | {"fail.mp4": "FAIL"})
    hostile = {"patient_id": "=cmd|' /C calc'!A0", "session_date": "@SUM(1+1)",
               "side_tested": "left", "notes": '+HYPERLINK("http://evil.example","x")'}
    manifest = tmp_path / "manifest.csv"
    with manifest.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["path", *hostile])
        writer.writeheader()
        for name in names:
            writer.writerow({"path": f"in/{name}", **hostile})
        writer.writerow({"path": "in/fail.mp4", "patient_id": "\t=1+1", "notes": "\r=2+2"})
    out = tmp_path / "out"
    run_batch(BatchConfig(sources=(str(manifest),), out_dir=out, workers=1),
              score_fn=module.score)
    rows = read_results_csv(out)
    assert len(rows) == 2 * (len(names) + 1)
    for row in rows:
        for column, cell in row.items():
            if column not in NUMERIC_COLUMNS:
                assert not cell.startswith(FORMULA_START), (column, cell)
    ok = [r for r in rows if r["status"] == "ok"]
    assert {r["patient_id"] for r in ok} == {"'=cmd|' /C calc'!A0"}
    assert {r["notes"] for r in ok} == {"'" + hostile["notes"]}
    assert {r["session_date"] for r in ok} == {"'@SUM(1+1)"}
    assert {r["side_tested"] for r in ok} == {"left"}   # a side that is not one is refused
    failed = [r for r in rows if r["status"] == "failed"]
    # The manifest reader strips surrounding blanks; the formula behind them is still quoted.
    assert {(r["patient_id"], r["notes"]) for r in failed} == {("'=1+1", "'=2+2")}
    assert {r["internal_rotation_deg"] for r in ok if r["leg"] == "left"} == {"-5.0"}
    assert sorted(Path(r["path"]).name for r in ok if r["leg"] == "left") == sorted(names)


def _manifest(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["path", "patient_id", "side_tested"])
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.reliability(case="a manifest's side_tested that is not a side (`sideways`)",
                         outcome="exit 1 before anything runs: one line with the manifest's "
                                 "line number (was: kept in results.csv while the clip was "
                                 "measured as auto)")
def test_a_manifest_side_must_be_a_side_and_l_r_are_understood(tmp_path, fake):
    module, _, _ = fake
    write_inputs(tmp_path / "in", {"a.mp4": "IR 40 30", "b.mp4": "IR 38 37"})
    bad = _manifest(tmp_path / "bad.csv", [{"path": "in/a.mp4", "side_tested": "L"},
                                           {"path": "in/b.mp4", "side_tested": "sideways"}])
    with pytest.raises(InputError, match=r"bad.csv line 3: side_tested 'sideways' is not left, "
                                         r"right, both or auto"):
        run_batch(BatchConfig(sources=(str(bad),), out_dir=tmp_path / "o1", workers=1),
                  score_fn=module.score)
    good = _manifest(tmp_path / "good.csv", [{"path": "in/a.mp4", "side_tested": "L"},
                                             {"path": "in/b.mp4", "side_tested": " r "}])
    run_batch(BatchConfig(sources=(str(good),), out_dir=tmp_path / "o2", workers=1),
              score_fn=module.score)
    sides = {(Path(r["path"]).name, r["side_tested"]) for r in read_results_csv(tmp_path / "o2")}
    assert sides == {("a.mp4", "left"), ("b.mp4", "right")}


def test_a_manifest_keeps_its_cells_when_a_folder_named_the_file_first(tmp_path):
    # `hiprom batch in manifest.csv` had scored in/a.mp4 as the folder's bare mention:
    # no patient, date, side or notes, and both legs scored.
    write_inputs(tmp_path / "in", {"a.mp4": "IR 40 30", "P9_b.mp4": "IR 38 37"})
    manifest = _manifest(tmp_path / "m.csv", [
        {"path": "in/a.mp4", "patient_id": "P1", "side_tested": "left"},
        {"path": "in/P9_b.mp4", "patient_id": "P2"}])
    inputs = collect_inputs([tmp_path / "in", manifest], id_pattern=r"(?P<id>P\d+)_")
    found = {i.path.name: (i.patient_id, i.side_tested) for i in inputs}
    assert found == {"a.mp4": ("P1", "left"), "P9_b.mp4": ("P2", None)}, found


@pytest.mark.reliability(case="a manifest's side_tested changed between runs, or two copies of "
                              "one file given different sides",
                         outcome="each side is scored on its own (was: the first scoring served "
                                 "both, and results.csv named one leg while holding the "
                                 "other's value)")
def test_the_tested_side_is_part_of_what_a_stored_result_answers(tmp_path, fake):
    module, calls, _ = fake
    write_inputs(tmp_path / "in", {"a.mp4": "IR 40 30", "copy.mp4": "IR 40 30"})
    out = tmp_path / "out"
    first = _manifest(tmp_path / "m1.csv", [{"path": "in/a.mp4", "side_tested": "left"},
                                            {"path": "in/copy.mp4", "side_tested": "right"}])
    report = run_batch(BatchConfig(sources=(str(first),), out_dir=out, workers=1),
                       score_fn=module.score)
    assert len(calls_of(calls)) == 2 and report.tally().same_content == 0
    again = run_batch(BatchConfig(sources=(str(first),), out_dir=out, workers=1),
                      score_fn=module.score)
    assert len(calls_of(calls)) == 2 and again.tally().from_store == 2
    changed = _manifest(tmp_path / "m2.csv", [{"path": "in/a.mp4", "side_tested": "right"},
                                              {"path": "in/copy.mp4", "side_tested": "right"}])
    last = run_batch(BatchConfig(sources=(str(changed),), out_dir=out, workers=1),
                     score_fn=module.score)
    # a.mp4 under its new side is the copy's (content, side): scored once before, reused
    assert len(calls_of(calls)) == 2 and last.tally().from_store == 2
    assert {(Path(r["path"]).name, r["side_tested"]) for r in read_results_csv(out)} == {
        ("a.mp4", "right"), ("copy.mp4", "right")}
    both = _manifest(tmp_path / "m3.csv", [{"path": "in/a.mp4", "side_tested": "both"}])
    run_batch(BatchConfig(sources=(str(both),), out_dir=out, workers=1), score_fn=module.score)
    assert len(calls_of(calls)) == 3, "a side not scored before is scored"


# --------------------------------------------------------------------------- safety


@pytest.mark.reliability(case="a second `hiprom batch` on the same --out while the first runs",
                         outcome="exit 1: 'another hiprom batch is writing to OUT (pid N)'")
def test_a_second_batch_on_the_same_out_is_refused_while_the_first_runs(tmp_path, fake):
    _, _, lib = fake
    src = write_inputs(tmp_path / "in", {f"v{i}.mp4": f"SLOW 1.0 IR 40 {30 + i}"
                                         for i in range(4)})
    out = tmp_path / "out"
    cmd = [sys.executable, str(lib / "run_fake_batch.py"), str(src), str(out)]
    proc = subprocess.Popen(cmd, env=os.environ | {"PYTHONPATH": str(lib)},
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        lock = out / "hiprom-batch.lock"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (
                lock.exists() and lock.read_text().strip() == str(proc.pid)):
            time.sleep(0.05)
        result = CliRunner().invoke(cli_app(), ["batch", str(src), "-o", str(out), "-q"])
        assert result.exit_code == 1
        assert (f"another hiprom batch is writing to {out} (pid {proc.pid}); wait for it or "
                "choose another --out") in " ".join(result.output.split())
        assert proc.poll() is None, "the refusal must come while the first run still works"
        assert proc.wait(timeout=120) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    # Once the first run is over the folder is free again.
    again = CliRunner().invoke(cli_app(), ["batch", str(src), "-o", str(out), "-q"])
    assert again.exit_code == 0, again.output


def test_store_and_csv_paths_are_absolute_whatever_the_working_directory(tmp_path, fake,
                                                                         monkeypatch):
    module, _, _ = fake
    write_inputs(tmp_path / "in", {"a.mp4": "IR 40 30", "b.mp4": "IR 38 36"})
    monkeypatch.chdir(tmp_path)
    report = run_batch(BatchConfig(sources=("in",), out_dir=Path("rel-out"), workers=1),
                       score_fn=module.score)
    assert report.exit_code == 0 and report.store_path == tmp_path / "rel-out" / DEFAULT_STORE_NAME
    with sqlite3.connect(report.store_path) as db:
        dirs = [r[0] for r in db.execute("SELECT output_dir FROM results")]
        paths = [r[0] for r in db.execute("SELECT path FROM inputs")]
    # Before: output_dir was 'rel-out/videos/...', relative to the driver's working directory.
    assert len(dirs) == 2 and all(Path(d).is_absolute() for d in dirs + paths)
    assert all(Path(d).parent == tmp_path / "rel-out" / "videos" for d in dirs)
    rows = read_results_csv(tmp_path / "rel-out")
    assert {r["output_dir"] for r in rows} == set(dirs)
    assert all(Path(r["path"]).is_absolute() for r in rows)


def test_cli_batch_ctrl_c_prints_one_line_and_exits_130(tmp_path, monkeypatch):
    import hiprom.cli.batch
    from hiprom.cli.common import INTERRUPTED

    def interrupted(config, **_):
        raise KeyboardInterrupt

    monkeypatch.setattr(hiprom.cli.batch, "run_batch", interrupted)
    result = CliRunner().invoke(cli_app(), ["batch", str(tmp_path), "-q"])
    assert result.exit_code == 130 and result.output.strip() == INTERRUPTED


def test_a_worker_whose_driver_died_while_it_started_exits_at_once():
    # A worker still importing when its driver was killed is re-parented before its start-up
    # runs; it must compare with the driver's pid, not take its new parent for the driver.
    code = ("from hiprom.batch.engines import _die_with_parent; import os; "
            "_die_with_parent(os.getppid() + 1_000_000); print('still running')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and done.stdout == "" and done.stderr == ""


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.slow
@pytest.mark.mediapipe
@pytest.mark.skipif(not Path("/proc").is_dir() or shutil.which("pgrep") is None,
                    reason="needs /proc and pgrep")
@pytest.mark.reliability(case="`kill -9` of the batch driver while 2 workers measure, then a "
                         "rerun", outcome="workers and resource tracker exit within seconds; "
                         "the rerun scores every input exactly once")
def test_kill_9_of_the_driver_takes_its_workers_along_and_a_rerun_scores_each_once(tmp_path):
    samples = Path(__file__).resolve().parents[1] / "samples"
    src = tmp_path / "in"
    src.mkdir()
    for clip in sorted(samples.glob("*.mp4")):
        (src / clip.name).symlink_to(clip)
    out = tmp_path / "out"
    cmd = [str(Path(sys.executable).parent / "hiprom"), "batch", str(src), "-o", str(out),
           "--workers", "2", "-q"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        children: list[int] = []
        # Two workers plus the resource tracker, and the workers busy loading the model.
        while time.monotonic() < deadline and proc.poll() is None and len(children) < 3:
            children = _children(proc.pid)
            time.sleep(0.1)
        assert len(children) >= 3, f"the workers never started: {children}"
        time.sleep(2.0)
        os.kill(proc.pid, signal.SIGKILL)  # the driver alone, not its process group
        proc.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(c) for c in children):
            time.sleep(0.1)
        left = [c for c in children if _alive(c)]
        assert not left, f"processes outlived their driver: {left}"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    with sqlite3.connect(out / DEFAULT_STORE_NAME) as db:
        per_hash = db.execute("SELECT input_sha256, status, COUNT(*) FROM results "
                              "GROUP BY 1").fetchall()
        n_inputs = db.execute("SELECT COUNT(*) FROM inputs").fetchone()[0]
    assert n_inputs == 3 and len(per_hash) == 3
    assert all(status == "ok" and count == 1 for _, status, count in per_hash)


@pytest.mark.slow
@pytest.mark.mediapipe
@pytest.mark.reliability(case="Ctrl-C (SIGINT to the process group) during `hiprom batch "
                         "--annotate`, then a rerun",
                         outcome="exit 130, one line, workers stopped, no partial file; the "
                         "rerun scores each input once")
def test_ctrl_c_during_batch_keeps_nothing_partial_and_a_rerun_finishes(tmp_path):
    samples = Path(__file__).resolve().parents[1] / "samples"
    src = tmp_path / "in"
    src.mkdir()
    for clip in sorted(samples.glob("*.mp4"))[:2]:
        (src / clip.name).symlink_to(clip)
    out = tmp_path / "out"
    cmd = [str(Path(sys.executable).parent / "hiprom"), "batch", str(src), "-o", str(out),
           "--workers", "2", "--annotate", "-q"]
    proc = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not any(
                p.stat().st_size for p in out.glob("videos/*/.*.part.webm")):
            time.sleep(0.05)
        assert proc.poll() is None, "the batch ended before it could be interrupted"
        workers = _children(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert stderr.strip() == ("interrupted; nothing partial was kept — run the same command "
                              "again to finish")
    deadline = time.monotonic() + 5  # the resource tracker ends once the workers have
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not [w for w in workers if _alive(w)]
    for folder in out.glob("videos/*"):
        names = sorted(p.name for p in folder.iterdir())
        assert not [n for n in names if n.startswith(".")], names  # no temporary file left
        assert len(names) in (0, 4), names  # a video's files are all there or none is
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    with sqlite3.connect(out / DEFAULT_STORE_NAME) as db:
        per_hash = db.execute("SELECT status, COUNT(*) FROM results GROUP BY input_sha256"
                              ).fetchall()
    assert per_hash == [("ok", 1), ("ok", 1)]
    for folder in out.glob("videos/*"):
        assert len([p for p in folder.iterdir() if not p.name.startswith(".")]) == 4


def test_temporary_files_left_by_a_killed_run_are_removed_by_the_rerun(tmp_path, fake):
    module, _, _ = fake
    src = write_inputs(tmp_path / "in", {"a.mp4": "IR 40 30"})
    out = tmp_path / "out"
    folder = out / "videos" / f"a-{sha256_file(src / 'a.mp4')[:12]}"
    folder.mkdir(parents=True)
    stale = [folder / ".a.k3j2x9.part.json", folder / ".a.annotated.q1w2e3.part.webm"]
    for path in stale:
        path.write_bytes(b"half")
    (folder / ".keep-me").write_text("not ours")
    report = run_batch(BatchConfig(sources=(str(src),), out_dir=out, workers=1),
                       score_fn=module.score)
    assert report.n_scored == 1
    assert not any(p.exists() for p in stale)
    assert (folder / ".keep-me").exists()


@pytest.mark.reliability(case="`hiprom batch \"$FOLDER\"` with FOLDER unset (an empty argument)",
                         outcome="exit 1, one line: an empty input path; nothing is scanned "
                                 "(was: the whole working folder was scanned recursively)")
def test_an_empty_input_path_is_refused_not_taken_for_the_working_folder(tmp_path,
                                                                         monkeypatch):
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "someone_else.mp4").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    for sources in ([""], ["  "], [str(tmp_path / "private"), ""]):
        with pytest.raises(InputError, match="empty input path"):
            collect_inputs(sources)
    result = CliRunner().invoke(cli_app(), ["batch", "", "-o", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error: ") and "empty input path" in result.output
    assert not (tmp_path / "out").exists()

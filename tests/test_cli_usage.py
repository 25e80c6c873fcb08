"""A usage error (missing argument, unknown option or command, bad value) is one line, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hiprom.cli.main import app

runner = CliRunner()


def _one_usage_line(args: list[str]) -> str:
    """The run's only line, on stderr; checks exit 2, nothing on stdout, no usage block."""
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    assert "Usage:" not in result.stderr and "Try '" not in result.stderr
    return lines[0]


@pytest.mark.reliability(case="a command without its required argument (`hiprom measure`, "
                              "`hiprom batch`, `hiprom agreement results.csv`)",
                         outcome="exit 2, one line: which argument is missing, what it is, and "
                                 "an example call (was: click's usage block and Error: line)")
@pytest.mark.parametrize(("args", "expected"), [
    (["measure"], "error: no PATHS given (video files or photos of the seated test); "
                  "e.g. hiprom measure clip.mp4"),
    (["batch"], "error: no SOURCES given (folders (searched recursively), globs, video files, "
                "or a manifest CSV with a 'path' column); e.g. hiprom batch footage/ --out "
                "scores/"),
    (["agreement"], "error: no RESULTS given (hiprom's values: a batch results.csv, or a folder "
                    "of result JSONs (hiprom measure / batch output)); e.g. hiprom agreement "
                    "scores/results.csv reference.csv"),
    # the second argument; the help text starts with an acronym, kept in capitals
    (["agreement", "results.csv"], "error: no REFERENCE given (CSV of criterion readings: "
                                   "patient_id or path, leg, reference_deg; optional rater, "
                                   "session, method, camera); e.g. hiprom agreement "
                                   "scores/results.csv reference.csv"),
])
def test_a_missing_argument_is_one_line(args, expected):
    assert _one_usage_line(args) == expected


@pytest.mark.parametrize(("args", "expected"), [
    (["--bogus"], "error: no such option: --bogus (Possible options: --verbose); "
                  "see hiprom --help"),
    (["bogus"], "error: no such command 'bogus'; see hiprom --help"),
    (["measure", "clip.mp4", "--bogus"], "error: no such option: --bogus (Possible options: "
                                         "--out); see hiprom measure --help"),
    (["measure", "clip.mp4", "--model", "huge"], "error: invalid value for '--model': 'huge' "
     "is not one of 'full', 'heavy', 'lite'; see hiprom measure --help"),
    # an option without its value: click's error names no command, the group does
    (["measure", "clip.mp4", "--stride"], "error: option '--stride' requires an argument; "
                                          "see hiprom measure --help"),
    (["routines", "a.json", "b.json"], "error: got unexpected extra argument(s) (b.json); "
                                       "see hiprom routines --help"),
])
def test_every_other_usage_error_is_one_line_too(args, expected):
    assert _one_usage_line(args) == expected


def test_user_text_in_a_usage_error_is_shown_escaped():
    line = _one_usage_line(["me\x1b[31masure"])
    assert line == "error: no such command 'me\\x1b[31masure'. Did you mean 'measure'?"


@pytest.mark.parametrize("args", [["--help"], ["measure", "--help"], ["agreement", "--help"]])
def test_help_is_still_the_usage_block(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: hiprom {' '.join(args[:-1])}".rstrip() + " [OPTIONS]")
    assert "Options:" in result.stdout and result.stderr == ""


def test_hiprom_alone_still_shows_the_help():
    result = runner.invoke(app, [])
    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: hiprom [OPTIONS] COMMAND [ARGS]...")
    assert "Commands:" in result.stderr and "error:" not in result.stderr


def test_the_console_script_prints_one_line_and_exits_2(tmp_path):
    done = subprocess.run([sys.executable, "-m", "hiprom.cli.main", "measure"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert done.stderr == ("error: no PATHS given (video files or photos of the seated test); "
                           "e.g. hiprom measure clip.mp4\n")


@pytest.mark.parametrize("args", [["routines", "--left", "30"], ["history", "--person", "x"]])
def test_ctrl_c_in_any_command_prints_the_one_interrupt_line(args, monkeypatch, capsys):
    # Typer turns a Ctrl-C that the command did not catch into exit code 130 with no word
    # at all; `report`, `agreement`, `history` and `routines` stopped silently.
    import hiprom.plan.routines
    import hiprom.report.history
    from hiprom.cli.common import INTERRUPTED
    from hiprom.cli.main import main

    def ctrl_c(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(hiprom.plan.routines, "build_plan", ctrl_c)
    monkeypatch.setattr(hiprom.report.history, "load_history", ctrl_c)
    monkeypatch.setattr(sys, "argv", ["hiprom", *args])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 130
    err = capsys.readouterr().err
    assert err.count(INTERRUPTED) == 1 and "Traceback" not in err, err


def test_stopping_the_app_with_ctrl_c_prints_no_interrupt_warning(tmp_path, monkeypatch,
                                                                   capsys):
    # Ctrl+C is how the app is stopped; "nothing partial was kept — run the same command
    # again" would tell the user something went wrong.
    from hiprom.app import runner
    from hiprom.cli.common import INTERRUPTED
    from hiprom.cli.main import main

    def serve(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "serve", serve)
    monkeypatch.setattr(sys, "argv", ["hiprom", "app", "--no-browser", "--port", "0", "-q",
                                      "-o", str(tmp_path / "o")])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 130
    assert INTERRUPTED not in capsys.readouterr().err


def test_a_stop_signal_the_user_ignores_stays_ignored():
    # Under nohup SIGHUP is ignored; closing the terminal must not stop measure or live.
    import signal

    from hiprom.cli.main import stop_signals_as_interrupt

    saved = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with stop_signals_as_interrupt():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_IGN, signal.SIG_DFL)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, saved)


@pytest.mark.parametrize(("command", "flags"), [
    ("batch", "--every-frame or --annotate"),
    ("measure", "--every-frame, --annotate or --export"),
])
def test_stride_with_every_frame_names_only_the_commands_own_flags(command, flags, tmp_path):
    # batch's message had named --export, which only measure has. Two flags that cannot go
    # together are a usage error (exit 2, like any other bad command line; it was 1), found
    # before the output folder is made.
    clip = str(Path(__file__).resolve().parents[1] / "samples" / "seated_ir_left_right.mp4")
    run = CliRunner().invoke(app, [command, clip, "--stride", "2", "--every-frame", "-o",
                                   str(tmp_path / "o")])
    assert run.exit_code == 2, run.output
    assert f"cannot go with {flags}; drop one" in " ".join(run.output.split()), run.output
    assert len(run.output.strip().splitlines()) == 1, run.output
    assert not (tmp_path / "o").exists()


def test_export_with_stride_is_a_usage_error(tmp_path):
    clip = str(Path(__file__).resolve().parents[1] / "samples" / "seated_ir_left_right.mp4")
    run = CliRunner().invoke(app, ["measure", clip, "--stride", "2", "--export", "mot", "-o",
                                   str(tmp_path / "o")])
    assert run.exit_code == 2, run.output
    assert "--export needs every frame analysed; drop --stride" in run.output, run.output
    assert not (tmp_path / "o").exists()


def test_a_file_name_starting_with_a_dash_gets_a_hint(tmp_path):
    # click reads "-dash.png" as the options -d -a ...; the line said only "no such option".
    run = CliRunner().invoke(app, ["measure", "-dash.png"])
    assert run.exit_code == 2, run.output
    assert "no such option: -d" in run.output and "write ./ before it" in run.output
    long = CliRunner().invoke(app, ["measure", "--bogus", "x.png"])
    assert "write ./" not in long.output      # a mistyped long option gets no such hint


def test_a_bad_choice_reads_without_the_validators_prefix():
    run = CliRunner().invoke(app, ["measure", "x.mp4", "--subject", "foo"])
    assert run.exit_code == 2, run.output
    assert "Value error" not in run.output and "'foo' is not one of" in run.output, run.output

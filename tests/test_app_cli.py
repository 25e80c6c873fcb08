"""``hiprom app`` on the command line: loopback only, port fallback, browser, origin check."""

from __future__ import annotations

import os
import socket
import stat
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from hiprom.app import runner
from hiprom.app.headless import start_server, stop_server


def test_help_lists_the_options():
    from hiprom.cli.main import app

    run = CliRunner().invoke(app, ["app", "--help"], env={"COLUMNS": "200"})
    assert run.exit_code == 0
    for option in ("--port", "--no-browser", "--out", "-o", "--person", "--quiet", "-q"):
        assert option in run.output


def test_bind_is_loopback_and_falls_back_to_a_free_port():
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        sock, moved = runner.bind(port)
        with sock:
            assert moved and sock.getsockname()[0] == "127.0.0.1"
            assert sock.getsockname()[1] != port
            assert runner.url_of(sock) == f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        taken.close()
    sock, moved = runner.bind(0)
    with sock:
        assert not moved and sock.getsockname()[1] > 0


def test_the_browser_is_opened_once_the_server_is_up(monkeypatch):
    opened = []
    monkeypatch.setattr(runner.webbrowser, "open", opened.append)

    class Started:
        started = True

    runner._open_when_up(Started(), "http://127.0.0.1:1/")
    for _ in range(100):
        if opened:
            break
        time.sleep(0.01)
    assert opened == ["http://127.0.0.1:1/"]


@pytest.mark.reliability(case="`hiprom app -o X` where X holds a terminal escape sequence or a "
                              "line break, printed as each test is saved",
                         outcome="one 'saved ...' line with each control character shown "
                                 "escaped (was: sent to the terminal as it is)")
def test_saved_paths_are_printed_as_one_line_with_control_characters_escaped(
        monkeypatch, capsys, tmp_path):
    import uvicorn

    configs = []
    written = [tmp_path / "out\x1b]0;owned\x07" / "ada\nsaved fake.json", tmp_path / "b.csv"]

    class Server:  # no server: the app's first save happens as it starts
        def __init__(self, config):
            pass

        def run(self, sockets):
            configs[0].on_saved(written)

    monkeypatch.setattr(runner, "create_app", configs.append)
    monkeypatch.setattr(uvicorn, "Server", Server)
    sock, _ = runner.bind(0)
    with sock:
        runner.serve(sock, out_dir=tmp_path, person="ada", open_browser=False)
    assert capsys.readouterr().out == (f"saved {tmp_path}/out\\x1b]0;owned\\x07/ada\\x0asaved "
                                       f"fake.json, {tmp_path / 'b.csv'}\n")


def _live_cli() -> typer.Typer:
    from hiprom.cli.live import register

    app = typer.Typer()
    app.command(name="noop")(lambda: None)
    register(app)
    return app


def test_live_without_a_display_says_so_and_points_to_the_app(monkeypatch, tmp_path):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    run = CliRunner().invoke(_live_cli(), ["live", "--out", str(tmp_path)],
                             env={"COLUMNS": "300"})
    assert run.exit_code == 1
    lines = [line for line in run.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "hiprom app" in lines[0] and "no display" in lines[0]


def _browser_script(tmp_path: Path) -> tuple[Path, Path]:
    opened = tmp_path / "opened.txt"
    script = tmp_path / "fake-browser"
    script.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, opened


@pytest.mark.slow
def test_the_real_server_opens_the_browser_serves_and_checks_origins(tmp_path):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    script, opened = _browser_script(tmp_path)
    env = {"BROWSER": str(script), "HIPROM_HOME": str(tmp_path / "home")}
    proc, url = start_server(tmp_path / "out", browser=True, env=env)
    try:
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=10) as page:
            assert page.headers["content-security-policy"].startswith("default-src 'self'")
        ws_url = url.replace("http://", "ws://") + "ws"
        with pytest.raises(InvalidStatus) as err, connect(ws_url, origin="http://evil.example",
                                                         open_timeout=10):
            pass
        assert err.value.response.status_code == 403
        with connect(ws_url, origin=url.rstrip("/"), open_timeout=10) as ws:
            ws.send('{"type": "nonsense"}')
            assert "start message first" in ws.recv(timeout=10)
        for _ in range(100):
            if opened.is_file():
                break
            time.sleep(0.05)
        assert opened.read_text().strip() == url
    finally:
        stop_server(proc)


@pytest.mark.slow
def test_no_browser_opens_nothing_and_a_taken_port_falls_back(tmp_path):
    script, opened = _browser_script(tmp_path)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        proc, url = start_server(tmp_path / "out", port=port,
                                 env={"BROWSER": str(script), **os.environ})
        try:
            assert url != f"http://127.0.0.1:{port}/"
            with urllib.request.urlopen(url + "api/config", timeout=10) as r:
                assert r.status == 200
            time.sleep(0.5)
            assert not opened.exists()
            assert any(f"port {port} is taken" in line for line in proc.output_lines)
        finally:
            stop_server(proc)
    finally:
        taken.close()


@pytest.mark.reliability(case="`hiprom app -o X` where X is a file, or lies below a file",
                         outcome="exit 1 at start, one line, no server (was: the app started, "
                                 "and the self-test the user then did could not be saved)")
@pytest.mark.parametrize("below", [False, True])
def test_app_refuses_an_out_folder_it_cannot_create_before_serving(tmp_path, monkeypatch,
                                                                   below):
    from hiprom.cli.main import app

    served = []
    monkeypatch.setattr(runner, "serve", lambda *a, **k: served.append(a))
    (tmp_path / "notes.txt").write_text("a file")
    out = tmp_path / "notes.txt" / "results" if below else tmp_path / "notes.txt"
    run = CliRunner().invoke(app, ["app", "-o", str(out), "--no-browser", "--port", "0"])
    assert run.exit_code == 1, run.output
    errors = [line for line in run.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "notes.txt" in errors[0] and "folder" in errors[0], run.output
    assert "Traceback" not in run.output and served == []
    assert (tmp_path / "notes.txt").read_text() == "a file"


def test_the_app_takes_the_person_from_hiprom_person_as_the_other_commands_do(
        tmp_path, monkeypatch):
    # The app ignored HIPROM_PERSON and saved every test under "default".
    from hiprom.cli.main import app

    served = []
    monkeypatch.setattr(runner, "serve", lambda *a, **k: served.append(k["person"]))
    args = ["app", "-o", str(tmp_path / "o"), "--no-browser", "--port", "0"]
    monkeypatch.setenv("HIPROM_PERSON", "eve")
    assert CliRunner().invoke(app, args).exit_code == 0
    assert CliRunner().invoke(app, [*args, "--person", "ada"]).exit_code == 0
    monkeypatch.delenv("HIPROM_PERSON")
    assert CliRunner().invoke(app, args).exit_code == 0
    monkeypatch.setenv("HIPROM_PERSON", "   ")   # blank counts as unset, as empty does
    assert CliRunner().invoke(app, args).exit_code == 0
    assert served == ["eve", "ada", "default", "default"]


@pytest.mark.reliability(case="a person name the history cannot take (blank, 70 characters) "
                              "on `app`, `measure` or `live`",
                         outcome="exit 2 at once, one line naming --person; nothing measured "
                                 "or served (was: the whole test ran, then each save failed)")
@pytest.mark.parametrize("command", ["app", "measure", "live"])
@pytest.mark.parametrize("name", ["   ", "x" * 70])
def test_a_person_name_the_history_cannot_take_stops_the_command_at_once(
        tmp_path, monkeypatch, command, name):
    import hiprom.live.session
    import hiprom.pipeline.measure
    from hiprom.cli.main import app

    started = []
    monkeypatch.setattr(runner, "serve", lambda *a, **k: started.append("served"))
    monkeypatch.setattr(hiprom.pipeline.measure, "measure_path",
                        lambda *a, **k: started.append("measured"))
    monkeypatch.setattr(hiprom.live.session, "run_live", lambda *a, **k: started.append("live"))
    args = {"app": ["app", "--no-browser", "--port", "0"],
            "measure": ["measure", str(Path(__file__).parents[1] / "samples" /
                                       "still_right_ir45_far.png")],
            "live": ["live", "--headless", "--source",
                     str(Path(__file__).parents[1] / "samples" / "seated_ir_left_right.mp4")]
            }[command]
    run = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "o"), "--person", name])
    assert run.exit_code == 2, run.output
    lines = [line for line in run.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--person" in lines[0] and "1–64 printable" in lines[0], lines
    assert started == [] and not (tmp_path / "o").exists()

"""hiprom makes no network request: every socket the commands open, traced with strace.

MediaPipe's wheels carry a usage-logging client that posts to play.googleapis.com with
libcurl; the pose backend keeps it on loopback (see hiprom._native). These tests run the
real commands under ``strace -f`` and fail on any DNS lookup (port 53, the nscd or
systemd-resolved sockets) and any connection or datagram to an address off this machine.
Loopback (127.0.0.0/8, ::1) is allowed: the batch workers and the refused proxy use it.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from hiprom._native import block_mediapipe_usage_logging

ROOT = Path(__file__).resolve().parents[1]
STILL = ROOT / "samples" / "still_right_ir45_far.png"
CLIP = ROOT / "samples" / "seated_er_pitch_yaw.mp4"  # 150 frames, the shortest sample clip
TRACED = "connect,sendto,sendmsg,sendmmsg"
#: Unix sockets through which glibc resolves host names (name-service cache, resolved).
RESOLVER_SOCKETS = ("/var/run/nscd/", "/run/nscd/", "/run/systemd/resolve/")

_CALL = re.compile(r"^\d+\s+(?P<call>connect|sendto|sendmsg|sendmmsg)\((?P<args>.*)$")
_INET = re.compile(r'sa_family=AF_INET, sin_port=htons\((?P<port>\d+)\), '
                   r'sin_addr=inet_addr\("(?P<addr>[^"]+)"\)')
_INET6 = re.compile(r'sa_family=AF_INET6, sin6_port=htons\((?P<port>\d+)\), .*?'
                    r'inet_pton\(AF_INET6, "(?P<addr>[^"]+)"')
_UNIX = re.compile(r'sa_family=AF_UNIX, sun_path=@?"(?P<path>[^"]*)"')


def network_uses(trace: str) -> list[str]:
    """Lines of an ``strace -f`` log that are DNS lookups or traffic off this machine."""
    found = []
    for line in trace.splitlines():
        match = _CALL.match(line)
        if match is None:  # "<... connect resumed>" lines repeat no address
            continue
        args = match["args"]
        for inet in (*_INET.finditer(args), *_INET6.finditer(args)):
            address = ipaddress.ip_address(inet["addr"])
            mapped = getattr(address, "ipv4_mapped", None)
            if inet["port"] == "53" or not (mapped or address).is_loopback:
                found.append(line)
        for unix in _UNIX.finditer(args):
            if unix["path"].startswith(RESOLVER_SOCKETS):
                found.append(line)
    return found


def test_the_parser_sees_lookups_and_remote_traffic_and_allows_loopback():
    trace = "\n".join([
        '7 connect(7, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT',
        '7 connect(7, {sa_family=AF_INET, sin_port=htons(53), '
        'sin_addr=inet_addr("10.255.255.53")}, 16) = 0',
        '7 connect(7, {sa_family=AF_INET, sin_port=htons(53), '
        'sin_addr=inet_addr("127.0.0.53")}, 16) = 0',
        '8 sendto(5, "x", 1, 0, {sa_family=AF_INET6, sin6_port=htons(443), '
        'sin6_flowinfo=htonl(0), inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), '
        'sin6_scope_id=0}, 28) = 1',
        '9 connect(9, {sa_family=AF_INET, sin_port=htons(443), '
        'sin_addr=inet_addr("142.250.1.1")}, 16 <unfinished ...>',
        '9 connect(9, {sa_family=AF_UNIX, sun_path="/run/systemd/resolve/io.systemd.Resolve"}, '
        '110) = 0',
        # allowed: loopback, the workers' pipes, IPv4-mapped loopback
        '4 connect(8, {sa_family=AF_INET, sin_port=htons(39069), '
        'sin_addr=inet_addr("127.0.0.1")}, 16) = -1 EINPROGRESS',
        '4 connect(3, {sa_family=AF_UNIX, sun_path="/tmp/pymp-x/listener"}, 110) = 0',
        '4 connect(3, {sa_family=AF_INET6, sin6_port=htons(8786), sin6_flowinfo=htonl(0), '
        'inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
        '4 sendmmsg(7, [{msg_hdr={msg_name=NULL, msg_namelen=0}}], 1, 0) = 1',
        "9 <... connect resumed>) = 0",
    ])
    assert len(network_uses(trace)) == 6


def _hiprom() -> list[str]:
    script = Path(sys.executable).with_name("hiprom")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "hiprom.cli.main"]


def _assert_offline(strace: str, tmp_path: Path, *args: str) -> None:
    """Run ``hiprom ARGS`` under strace; fail if it succeeded only by using the network."""
    log = tmp_path / "strace.log"
    env = {**os.environ, "HIPROM_HOME": str(tmp_path / "home"),
           # A bypass list that names everything must not let the usage logging out.
           "no_proxy": "*", "NO_PROXY": "*"}
    run = subprocess.run([strace, "-f", "-qq", "-e", f"trace={TRACED}", "-e", "signal=none",
                          "-o", str(log), *_hiprom(), *args],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    trace = log.read_text(errors="replace")
    assert "connect(" in trace, "strace recorded no connect: the trace did not work"
    uses = network_uses(trace)
    assert not uses, "DNS lookups or remote traffic:\n" + "\n".join(uses)


@pytest.mark.slow
@pytest.mark.mediapipe
def test_measure_makes_no_network_request(tmp_path, require_tool):
    _assert_offline(require_tool("strace"), tmp_path, "measure", str(STILL),
                    "--out", str(tmp_path / "o"), "--no-history", "--quiet")


@pytest.mark.slow
@pytest.mark.mediapipe
def test_measure_with_the_second_network_makes_no_network_request(tmp_path, require_tool):
    # The LiteRT runtime that runs MoveNet is a second native library: checked as well.
    _assert_offline(require_tool("strace"), tmp_path, "measure", str(CLIP), "--second-network",
                    "--out", str(tmp_path / "o"), "--no-history", "--quiet")
    assert (tmp_path / "o" / f"{CLIP.stem}.json").is_file()


@pytest.mark.slow
@pytest.mark.mediapipe
def test_batch_with_two_workers_makes_no_network_request(tmp_path, require_tool):
    folder = tmp_path / "footage"
    folder.mkdir()
    for sample in (STILL, CLIP):
        (folder / sample.name).symlink_to(sample)
    inputs = [str(folder / CLIP.name), str(folder / STILL.name)]
    _assert_offline(require_tool("strace"), tmp_path, "batch", *inputs,
                    "--out", str(tmp_path / "b"), "--workers", "2", "--fast", "--quiet")
    assert (tmp_path / "b" / "results.csv").read_text().count(",ok,") == 4


@pytest.mark.slow
@pytest.mark.mediapipe
def test_live_from_a_recording_makes_no_network_request(tmp_path, require_tool):
    _assert_offline(require_tool("strace"), tmp_path, "live", "--source", str(CLIP),
                    "--headless", "--no-realtime", "--out", str(tmp_path / "l"),
                    "--no-history", "--quiet")


def test_the_block_points_https_at_a_refusing_port_and_restores_the_variables(monkeypatch):
    monkeypatch.setenv("https_proxy", "http://proxy.example:3128")
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.delenv("NO_PROXY", raising=False)
    first, second = block_mediapipe_usage_logging(), block_mediapipe_usage_logging()
    proxy = os.environ["https_proxy"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", proxy)
    assert "no_proxy" not in os.environ and "NO_PROXY" not in os.environ
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", int(proxy.rsplit(":", 1)[1])), timeout=5)
    first.release()
    first.release()  # idempotent: the second holder still holds the block
    assert os.environ["https_proxy"] == proxy
    second.release()
    assert os.environ["https_proxy"] == "http://proxy.example:3128"
    assert os.environ["no_proxy"] == "*" and "NO_PROXY" not in os.environ


@pytest.mark.mediapipe
def test_the_pose_backend_holds_the_block_while_open(monkeypatch):
    from hiprom.backends.mediapipe import MediaPipeBackend

    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setenv("NO_PROXY", "localhost")
    with MediaPipeBackend(mode="image"):
        assert os.environ["https_proxy"].startswith("http://127.0.0.1:")
        assert "NO_PROXY" not in os.environ
    assert "https_proxy" not in os.environ and os.environ["NO_PROXY"] == "localhost"

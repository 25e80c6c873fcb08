"""hiprom app's server: the page and its files, the CSP, origin and host checks, the socket."""

from __future__ import annotations

import html
import json
import re
import struct
import threading
import time
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

import builders
from hiprom.app.server import create_app
from hiprom.app.state import AppConfig
from hiprom.app.ws import FRAME_HEADER, start_settings
from hiprom.core.landmarks import Landmarks

PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"
ORIGIN = {"origin": BASE}
WS = f"ws://127.0.0.1:{PORT}/ws"


def seated_xy(left_deg: float, right_deg: float) -> np.ndarray:
    """The default person as the model reports them (hip landmark above the joint)."""
    return builders.seated_xy(left_deg, right_deg, builders.MODEL_BODY)


def one_rep_each(t: float) -> tuple[float, float]:
    def rep(start: float, value: float) -> float:
        u = t - start
        return value * max(0.0, min(u / 0.5, 1.0, (3.0 - u) / 0.5))
    return rep(2.5, 35.0), rep(7.0, 25.0)


class ScriptedBackend:
    """A fake pose model (one seated person following ``one_rep_each``), optionally slow."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.thread_ids: set[int] = set()

    def __call__(self, image_rgb, *, timestamp_s: float) -> Landmarks:
        self.thread_ids.add(threading.get_ident())
        time.sleep(self.delay_s)
        if timestamp_s < 0:
            return Landmarks.empty((640, 480))
        return Landmarks(seated_xy(*one_rep_each(timestamp_s))[None], np.ones((1, 33)),
                         (640, 480))

    def close(self) -> None:
        pass


JPEG = cv2.imencode(".jpg", np.full((480, 640, 3), 120, np.uint8))[1].tobytes()


def frame(seq: int, capture_ms: float, latency_ms: float = float("nan")) -> bytes:
    return FRAME_HEADER.pack(b"HPF1", seq, capture_ms, latency_ms) + JPEG


@pytest.fixture
def backend() -> ScriptedBackend:
    return ScriptedBackend()


@pytest.fixture
def client(tmp_path: Path, backend: ScriptedBackend):
    saved: list[list[Path]] = []
    config = AppConfig(out_dir=tmp_path / "out", person="Ada", port=PORT,
                       backend_factory=lambda mode: backend, on_saved=saved.append)
    with TestClient(create_app(config), base_url=BASE) as c:
        c.saved = saved  # type: ignore[attr-defined]
        yield c


def test_the_page_and_its_files_come_from_the_package_with_a_strict_csp(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    csp = page.headers["content-security-policy"]
    assert csp.startswith("default-src 'self'") and "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    for src in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert src.startswith("/static/"), src
        assert client.get(src).status_code == 200
    js = client.get("/static/app.js")
    assert "javascript" in js.headers["content-type"]
    static = resources.files("hiprom.app").joinpath("static")
    for item in static.iterdir():
        text = item.read_text("utf-8").replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), item.name
        assert "@import" not in text and "@font-face" not in text, item.name


def test_config_carries_the_safety_screen_and_the_person(client):
    from hiprom.plan.assessment import safety_screen

    config = client.get("/api/config").json()
    assert [f["id"] for f in config["safety"]] == [f.id for f in safety_screen()]
    assert sum(f["stop_rule"] for f in config["safety"]) == 1
    assert config["person"] == "Ada" and config["edges"] and "diagnose" in config["disclaimer"]


def test_requests_must_name_this_machine(client):
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400
    assert client.get("/", headers={"host": f"localhost:{PORT}"}).status_code == 200


@pytest.mark.parametrize("headers", [{"origin": "http://evil.example"}, {},
                                     {"origin": "http://127.0.0.1:9999"}])
def test_the_socket_refuses_other_origins(client, headers):
    with pytest.raises(WebSocketDisconnect) as err, client.websocket_connect(WS, headers=headers):
        pass
    # Closed before accepting: the HTTP upgrade is answered 403 (a denial response).
    assert getattr(err.value, "status_code", 403) == 403
    assert getattr(err.value, "code", 1008) == 1008


def _start(ws, **extra) -> dict:
    ws.send_text(json.dumps({"type": "start", "auto": True, "reps": 1, "camera": "fake cam",
                             **extra}))
    ready = ws.receive_json()
    assert ready["type"] == "ready" and ready["state"]["phase"] == "setup"
    return ready


def test_a_whole_test_over_the_socket(client, backend):
    with client.websocket_connect(WS, headers=ORIGIN) as ws:
        ready = _start(ws)
        replies, result = [], None
        for i in range(400):
            ws.send_bytes(frame(i, 1000.0 + i * 1000 / 30, latency_ms=20.0 + i % 5))
            message = ws.receive_json()
            if message["type"] == "frame":
                replies.append(message)
            if message["state"]["complete"]:
                result = ws.receive_json()
                break
    assert len(backend.thread_ids) == 1  # one worker thread per session
    assert replies[0]["seq"] == 0 and replies[0]["capture_ms"] == 1000.0
    assert len(replies[0]["landmarks"]) == 33 and replies[0]["server_ms"] >= 0
    assert result is not None and result["type"] == "result"
    card = result["card"]
    assert card["legs"]["left"]["ir_deg"] == pytest.approx(35.0, abs=0.5)
    assert card["legs"]["right"]["ir_deg"] == pytest.approx(25.0, abs=0.5)
    assert card["person"] == "Ada" and card["in_history"] and card["exercises"]
    assert all(ex["diagram"].startswith("/diagrams/") for ex in card["exercises"])
    saved = json.loads((Path(card["out_dir"]) / card["files"][0]).read_text())
    assert saved["source"]["path"] == "browser:fake cam"
    assert client.saved and client.saved[0][0].suffix == ".json"

    sid = ready["session"]
    assert client.get(f"/api/sessions/{sid}/result").json() == card
    report = client.get(card["report_url"])
    assert report.status_code == 200 and "attachment" in report.headers["content-disposition"]
    assert report.headers["content-security-policy"].startswith("default-src 'none'")
    assert "Seated hip internal rotation" in report.text and "Progress of Ada" in report.text
    pdf = client.get(card["report_pdf_url"])
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    history = client.get(card["history_url"]).json()
    assert len(history["tests"]) == 1 and history["tests"][0]["left"]["ir_deg"] == pytest.approx(
        35.0, abs=0.5)
    plot = client.get(history["plot_url"])
    assert plot.headers["content-type"] == "image/png" and plot.content[:4] == b"\x89PNG"
    svg = client.get(card["exercises"][0]["diagram"])
    assert svg.headers["content-type"].startswith("image/svg+xml") and "<svg" in svg.text
    stats = client.get("/api/stats?raw=1").json()["sessions"][0]
    assert stats["saved"] and stats["frames"] == len(replies) and stats["dropped"] == 0
    assert stats["latency_ms"]["n"] == len(replies)  # as the page reported them
    assert 20.0 <= stats["latency_ms"]["median"] <= 24.0


def test_a_frame_sent_while_one_is_measured_is_dropped_not_queued(tmp_path):
    slow = ScriptedBackend(delay_s=0.3)
    config = AppConfig(out_dir=tmp_path, port=PORT, backend_factory=lambda mode: slow)
    with TestClient(create_app(config), base_url=BASE) as client, \
            client.websocket_connect(WS, headers=ORIGIN) as ws:
        _start(ws)
        ws.send_bytes(frame(1, 0.0))
        ws.send_bytes(frame(2, 33.0))
        first, second = ws.receive_json(), ws.receive_json()
        assert (first["type"], first["seq"]) == ("dropped", 2)
        assert (second["type"], second["seq"]) == ("frame", 1)
        ws.send_text(json.dumps({"type": "key", "key": "nonsense"}))
        assert "unknown key" in ws.receive_json()["message"]
        ws.send_bytes(b"garbage")
        assert "HPF1" in ws.receive_json()["message"]
        ws.send_text(json.dumps({"type": "finish"}))
        result = ws.receive_json()
        assert result["type"] == "result" and "legs" in result["card"]


def test_finishing_with_nothing_measurable_says_why(client):
    with client.websocket_connect(WS, headers=ORIGIN) as ws:
        ws.send_text(json.dumps({"type": "finish"}))
        assert "start message first" in ws.receive_json()["message"]
        _start(ws)
        ws.send_text(json.dumps({"type": "finish"}))
        assert "no camera frame" in ws.receive_json()["error"]


@pytest.mark.parametrize("person", ["Ada/Ben", "<img src=x onerror=alert(1)>"])
def test_any_printable_name_gets_its_history_and_stays_text(client, person):
    """A name is free text: a slash (initials, "Ada/Ben") or markup must work and stay text."""
    with client.websocket_connect(WS, headers=ORIGIN) as ws:
        assert _start(ws, person=person)["person"] == person
        for i in range(400):
            ws.send_bytes(frame(i, 1000.0 + i * 1000 / 30))
            if ws.receive_json()["state"]["complete"]:
                card = ws.receive_json()["card"]
                break
    history = client.get(card["history_url"])
    assert history.status_code == 200, history.text
    assert history.json()["person"] == person and len(history.json()["tests"]) == 1
    assert client.get(history.json()["plot_url"]).headers["content-type"] == "image/png"
    report = client.get(card["report_url"]).text
    assert "<img src=x" not in report and html.escape(person) in report


def test_unknown_saved_tests_and_people_are_404(client):
    assert client.get("/api/sessions/nope/report.html").status_code == 404
    assert client.get("/api/history/Nobody").status_code == 404
    assert client.get("/diagrams/no_such_exercise.svg").status_code == 404


def test_start_settings_are_bounded():
    s = start_settings({"auto": 1, "reps": 50, "seconds": "12", "keep_video": True,
                        "camera": "cam\x00era"})
    assert (s.auto, s.reps_per_side, s.max_seconds, s.keep_video, s.camera) == (
        True, None, 12.0, True, "camera")
    assert start_settings({"reps": True, "seconds": -1}).reps_per_side is None
    assert struct.calcsize("<4sIdd") == FRAME_HEADER.size == 24

"""The camera WebSocket: one guided test per connection, frames in, overlays and a result out.

Protocol (``/ws``; only this page's Origin is accepted, any other gets HTTP 403):

* page → server, text ``{"type": "start", "auto": bool, "reps": int|null,
  "seconds": float|null, "keep_video": bool, "person": str, "camera": str}``; the server
  loads the model and answers ``{"type": "ready", "session": id, "state": {...}}``;
* page → server, binary: a 24-byte header ``<4sIdd`` (``b"HPF1"``, frame number, capture
  time in ms on the page's clock, the previous frame's capture → overlay latency in ms or
  NaN) followed by the JPEG (640×480). The server answers each with one text message
  ``{"type": "frame", "seq", "capture_ms", "landmarks", "legs", "state", "setup", ...}``.
  The page keeps one frame in flight; a frame that arrives while one is being measured is
  dropped (``{"type": "dropped"}``), never queued;
* page → server, text ``{"type": "key", "key": "next"|"redo"|"quit"}`` (buttons) and
  ``{"type": "finish"}`` (end now); once the test is complete the server saves it and sends
  ``{"type": "result", "card": {...}}`` or ``{"type": "result", "error": "..."}``.

The pose model runs in one worker thread per session, so the event loop stays responsive and
the model's graph is always called from the same thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
import struct
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from starlette.websockets import WebSocket, WebSocketDisconnect

from hiprom.app import cards
from hiprom.app.session import AppSession, SessionSettings
from hiprom.app.state import AppState, SessionLog
from hiprom.errors import HipromError

__all__ = ["FRAME_HEADER", "FRAME_MAGIC", "session_socket", "start_settings"]

log = logging.getLogger(__name__)
FRAME_HEADER = struct.Struct("<4sIdd")
FRAME_MAGIC = b"HPF1"
_MAX_PERSON = 64
T = TypeVar("T")


def _bounded(value: Any, kind: type, low: float, high: float) -> Any:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError):
        return None
    return number if low <= number <= high else None


def start_settings(message: dict[str, Any], *, show_faces: bool = False) -> SessionSettings:
    """The session settings a ``start`` message asks for (bad values fall back to defaults).

    ``show_faces`` comes from the server's configuration (``hiprom app --show-faces``),
    never from the page.
    """
    camera = str(message.get("camera") or "camera")[:80]
    return SessionSettings(
        show_faces=show_faces,
        auto=bool(message.get("auto")),
        reps_per_side=_bounded(message.get("reps"), int, 1, 10),
        max_seconds=_bounded(message.get("seconds"), float, 1.0, 1800.0),
        keep_video=bool(message.get("keep_video")),
        camera="".join(c for c in camera if c.isprintable()) or "camera")


def _person(message: dict[str, Any], default: str) -> str:
    name = str(message.get("person") or "").strip()
    return name if 0 < len(name) <= _MAX_PERSON and name.isprintable() else default


def _stem(out_dir: Path) -> str:
    base = f"app-{datetime.now():%Y%m%d-%H%M%S}"
    stem, k = base, 1
    while (out_dir / f"{stem}.json").exists():
        k += 1
        stem = f"{base}-{k}"
    return stem


class _Connection:
    """One WebSocket connection: its session, worker thread and bookkeeping."""

    def __init__(self, ws: WebSocket, state: AppState) -> None:
        self.ws, self.state = ws, state
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="hiprom-app-session")
        self.session: AppSession | None = None
        self.log: SessionLog | None = None
        self.busy: asyncio.Task[None] | None = None
        self.finished = False
        self._send_lock = asyncio.Lock()

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` in the session's worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, lambda: fn(*args, **kwargs))

    async def send(self, message: dict[str, Any]) -> None:
        async with self._send_lock:
            await self.ws.send_text(json.dumps(message, allow_nan=False))

    async def run(self) -> None:
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await self.on_frame(message["bytes"], time.perf_counter())
            elif message.get("text") is not None:
                await self.on_text(message["text"])

    async def on_text(self, text: str) -> None:
        try:
            message = json.loads(text)
        except json.JSONDecodeError:
            await self.send({"type": "error", "message": "messages must be JSON"})
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "start" and self.session is None:
            await self.start(message)
        elif self.session is None:
            await self.send({"type": "error", "message": "send a start message first"})
        elif kind == "key":
            await self.wait_busy()
            try:
                state = await self.call(self.session.press, str(message.get("key")))
            except HipromError as err:
                await self.send({"type": "error", "message": str(err)})
                return
            await self.send({"type": "state", "state": state})
            if self.session.complete:
                await self.finish()
        elif kind == "finish":
            await self.wait_busy()
            await self.finish()

    async def start(self, message: dict[str, Any]) -> None:
        cfg = self.state.config
        settings = start_settings(message, show_faces=cfg.show_faces)
        self.session = AppSession(settings, backend_factory=cfg.backend_factory)
        sid = secrets.token_urlsafe(9)
        self.log = SessionLog(sid, _person(message, cfg.person))
        self.state.sessions[sid] = self.log
        try:
            await self.call(self.session.open)
        except HipromError as err:
            self.log.error = str(err)
            await self.send({"type": "error", "message": str(err), "fatal": True})
            return
        await self.send({"type": "ready", "session": sid, "person": self.log.person,
                         "state": self.session.state_dict()})

    async def on_frame(self, data: bytes, received_s: float) -> None:
        if self.session is None or self.log is None or self.finished:
            return
        if len(data) < FRAME_HEADER.size or data[:4] != FRAME_MAGIC:
            await self.send({"type": "error", "message": "a frame needs the HPF1 header"})
            return
        _, seq, capture_ms, last_ms = FRAME_HEADER.unpack_from(data)
        if math.isfinite(last_ms) and 0 <= last_ms < 60_000:
            self.log.latency_ms.append(last_ms)
        if self.busy is not None and not self.busy.done():
            self.log.dropped += 1
            await self.send({"type": "dropped", "seq": seq})
            return
        self.busy = asyncio.create_task(
            self.measure(data[FRAME_HEADER.size:], seq, capture_ms, received_s))

    async def measure(self, jpeg: bytes, seq: int, capture_ms: float, received_s: float) -> None:
        assert self.session is not None and self.log is not None
        try:
            reply = await self.call(self.session.process, jpeg, capture_ms)
        except HipromError as err:
            await self.send({"type": "error", "message": str(err), "seq": seq})
            return
        except Exception as err:  # noqa: BLE001 - reported to the page, the server goes on
            log.exception("frame %d failed", seq)
            await self.send({"type": "error", "message": f"internal error ({err}); please "
                             "report it", "seq": seq, "fatal": True})
            return
        self.log.frames += 1
        server_ms = (time.perf_counter() - received_s) * 1000.0
        self.log.server_ms.append(server_ms)
        await self.send({"type": "frame", "seq": seq, "capture_ms": capture_ms,
                         "server_ms": round(server_ms, 2), **reply})
        if self.session.complete:
            await self.finish()

    async def wait_busy(self) -> None:
        if self.busy is not None:
            await asyncio.gather(self.busy, return_exceptions=True)

    async def finish(self) -> None:
        """Save the test (once) and send the result card."""
        if self.finished or self.session is None or self.log is None:
            return
        self.finished = True
        cfg, session, slog = self.state.config, self.session, self.log
        outcome = await self.call(session.finish, cfg.out_dir, stem=_stem(cfg.out_dir))
        if outcome.result is None:
            slog.error = outcome.error
            await self.send({"type": "result", "error": outcome.error})
            return
        json_path = outcome.written[0]
        # A test refused as not the seated test is kept as files, not in the history.
        in_history = (outcome.result.get("protocol") or {}).get("valid") is not False
        try:
            if in_history:
                await self.call(cards.save_to_history, outcome.result, person=slog.person,
                                json_path=json_path)
        except HipromError as err:
            log.warning("not saved into the history: %s", err)
            in_history = False
        slog.json_path = json_path
        slog.card = cards.result_card(outcome.result, session_id=slog.id, person=slog.person,
                                      written=outcome.written, in_history=in_history)
        if cfg.on_saved is not None:
            cfg.on_saved(outcome.written)
        await self.send({"type": "result", "session": slog.id, "card": slog.card})

    async def close(self) -> None:
        await self.wait_busy()
        if self.session is not None:
            await self.call(self.session.close)
        self.executor.shutdown(wait=False)


async def session_socket(ws: WebSocket) -> None:
    """The ``/ws`` endpoint: refuse other origins (403), then run one guided test."""
    state: AppState = ws.app.state.hiprom
    if ws.headers.get("origin") not in state.allowed_origins:
        await ws.close(code=1008)  # before accept: the server answers HTTP 403
        return
    await ws.accept()
    connection = _Connection(ws, state)
    try:
        await connection.run()
    except WebSocketDisconnect:
        pass
    finally:
        await connection.close()

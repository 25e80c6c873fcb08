"""What the app's HTTP routes and its camera socket share: configuration and sessions."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hiprom.app.session import BackendMaker

__all__ = ["LOOPBACK_NAMES", "AppConfig", "AppState", "SessionLog"]

#: The names this machine answers to; requests and socket origins must use one of them.
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


@dataclass
class AppConfig:
    """How the app runs.

    Attributes:
        out_dir: where each test's result files go.
        person: whose history a test is saved into, unless the page names someone else.
        port: the port the server listens on (the WebSocket accepts only this origin).
        backend_factory: makes the pose backend (tests inject fakes); None: MediaPipe.
        on_saved: called with the files of each saved test (the CLI prints them).
        show_faces: keep faces unblurred in the saved key frame and annotated video
            (``hiprom app --show-faces``); by default every face is blurred.

    """

    out_dir: Path
    person: str = "default"
    port: int = 8765
    backend_factory: BackendMaker | None = None
    on_saved: Callable[[list[Path]], None] | None = None
    show_faces: bool = False


@dataclass
class SessionLog:
    """What the server keeps of one browser session (in memory, for this run only)."""

    id: str
    person: str
    latency_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    frames: int = 0
    dropped: int = 0
    json_path: Path | None = None
    card: dict[str, Any] | None = None
    error: str | None = None

    def summary(self, *, raw: bool = False) -> dict[str, Any]:
        """Counts and latency percentiles (capture → overlay, and time in the server)."""
        out: dict[str, Any] = {"id": self.id, "person": self.person, "frames": self.frames,
                               "dropped": self.dropped, "saved": self.json_path is not None,
                               "error": self.error, "latency_ms": _percentiles(self.latency_ms),
                               "server_ms": _percentiles(self.server_ms)}
        if raw:
            out["latency_ms"]["values"] = [round(v, 2) for v in self.latency_ms]
            out["server_ms"]["values"] = [round(v, 2) for v in self.server_ms]
        return out


def _percentiles(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "median": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"n": len(values), "median": round(statistics.median(ordered), 2),
            "p95": round(p95, 2), "max": round(ordered[-1], 2)}


class AppState:
    """Shared by the routes: the configuration and the sessions of this run."""

    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.sessions: dict[str, SessionLog] = {}

    @property
    def allowed_origins(self) -> set[str]:
        """The page's own origins; a WebSocket from any other is refused."""
        return {f"http://{name}:{self.config.port}" for name in LOOPBACK_NAMES}



"""Drive ``hiprom app`` in headless Chromium with a video file as its camera (tests, benchmarks).

* :func:`to_y4m` turns a clip into the Y4M file Chromium's fake camera plays (in a loop);
* :func:`start_server` runs ``hiprom app --no-browser`` and returns its address;
* :class:`Chromium` launches ``/usr/bin/chromium`` headless with the fake camera and speaks
  the DevTools protocol to its page through a tiny client (:class:`Cdp`, over the
  ``websockets`` package; no browser download);
* :func:`run_auto_test` opens ``?auto=1`` and waits until the page says it is done, taking a
  screenshot at every step.

Nothing here is used by the app itself.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM", "Cdp", "Chromium", "default_sigint", "run_auto_test", "start_server",
           "stop_server", "to_y4m"]

CHROMIUM = Path("/usr/bin/chromium")


def to_y4m(src: Path, dst: Path, *, size: tuple[int, int] = (640, 480)) -> Path:
    """Convert ``src`` to a 4:2:0 Y4M of ``size`` that Chromium's fake camera accepts.

    ffmpeg writes the colour space as ``C420mpeg2`` (plus an ``XYSCSS`` tag), which
    Chromium's Y4M reader rejects; the header line is rewritten with plain ``C420``.
    """
    if shutil.which("ffmpeg") is None:
        raise FileNotFoundError("ffmpeg is not installed (apt-get install ffmpeg)")
    tmp = dst.with_suffix(".ffmpeg.y4m")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-vf",
                    f"scale={size[0]}:{size[1]}", "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe",
                    str(tmp)], check=True, timeout=120)
    data = tmp.read_bytes()
    end = data.index(b"\n")
    fields = [f for f in data[:end].split(b" ") if not f.startswith((b"C", b"X"))]
    dst.write_bytes(b" ".join([*fields, b"C420"]) + data[end:])
    tmp.unlink()
    return dst


def default_sigint() -> None:
    """``preexec_fn`` for a child that will be stopped with SIGINT, as Ctrl-C would.

    A shell that runs a command in the background without job control starts it with
    SIGINT ignored, and children inherit that; Python then never turns SIGINT into
    KeyboardInterrupt, and the child finishes as if never interrupted. Restoring the default
    lets Python install its own handler, as it does when started from a terminal. Used by
    :func:`start_server` (which :func:`stop_server` stops with SIGINT) and by the tests that
    interrupt ``hiprom measure`` and ``hiprom batch``.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_server(out_dir: Path, *, person: str = "default", port: int = 0,
                 browser: bool = False,
                 env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """Start ``hiprom app --no-browser --port 0`` and return the process and its address."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "hiprom.cli.main", "app", "--browser" if browser else "--no-browser",
         "--port", str(port), "--out", str(out_dir), "--person", person],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env={**os.environ, **(env or {}), "COLUMNS": "200"},
        preexec_fn=default_sigint)
    found: list[str] = []
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if not found and line.startswith("hiprom app: "):
                found.append(line.split(": ", 1)[1].strip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while not found and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not found:
        proc.kill()
        proc.wait(timeout=10)
        reader.join(timeout=5)
        assert proc.stdout is not None
        proc.stdout.close()
        raise RuntimeError("hiprom app did not start:\n" + "".join(lines))
    proc.output_lines = lines  # type: ignore[attr-defined]
    proc.reader = reader  # type: ignore[attr-defined]
    return proc, found[0]


def stop_server(proc: subprocess.Popen[str]) -> None:
    """Stop a server from :func:`start_server` (Ctrl+C, as a person would) and close its pipe."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    reader = getattr(proc, "reader", None)
    if reader is not None:
        reader.join(timeout=5)
    if proc.stdout is not None:
        proc.stdout.close()


class Cdp:
    """A minimal DevTools-protocol client for one page target."""

    def __init__(self, ws_url: str) -> None:
        from contextlib import ExitStack

        from websockets.sync.client import connect

        self._stack = ExitStack()
        self._ws = self._stack.enter_context(connect(ws_url, max_size=None, open_timeout=20))
        self._id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events in between are skipped)."""
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self._ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def problems(self) -> list[str]:
        """Uncaught page errors, console errors and blocked requests seen so far."""
        out = []
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                out.append(str(params.get("exceptionDetails", {}).get("exception", params)))
            elif event["method"] == "Log.entryAdded" and params["entry"]["level"] == "error":
                out.append(params["entry"].get("text", ""))
            elif event["method"] == "Runtime.consoleAPICalled" and params["type"] == "error":
                out.append(str(params.get("args")))
        return out

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (promises are awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> Path:
        """Save a PNG of the page's viewport."""
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Close the connection."""
        self._stack.close()


class Chromium:
    """Headless Chromium whose camera plays ``y4m``; use as a context manager.

    ``y4m=None``: the machine's own cameras (none on a server: "no camera");
    ``allow_camera=False``: the person refuses the camera when the page asks.
    """

    def __init__(self, y4m: Path | None, profile: Path, *, size: tuple[int, int] = (1280, 900),
                 allow_camera: bool = True) -> None:
        camera = [] if y4m is None else ["--use-fake-device-for-media-stream",
                                         f"--use-file-for-fake-video-capture={y4m}"]
        answer = "--use-fake-ui-for-media-stream" if allow_camera else "--deny-permission-prompts"
        self.args = [
            str(CHROMIUM), "--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
            "--disable-gpu", *camera, answer,
            "--disable-background-networking", "--disable-component-update", "--no-first-run",
            f"--user-data-dir={profile}", "--remote-debugging-port=0",
            f"--window-size={size[0]},{size[1]}", "about:blank"]
        self.profile = profile
        self.proc: subprocess.Popen[bytes] | None = None
        self.cdp: Cdp | None = None

    def __enter__(self) -> Cdp:
        # Its own process group, so that every Chromium child ends with it.
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            self.cdp = Cdp(self._page_url())
            self.cdp.call("Page.enable")
            self.cdp.call("Runtime.enable")
            self.cdp.call("Log.enable")
        except BaseException:
            self.__exit__()
            raise
        return self.cdp

    def _page_url(self) -> str:
        assert self.proc is not None
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.is_file() or not port_file.read_text().strip():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            pages = [t for t in json.load(r) if t.get("type") == "page"]
        return pages[0]["webSocketDebuggerUrl"]

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.cdp is not None:
            self.cdp.close()
            self.cdp = None
        if self.proc is None:
            return
        for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        self.proc = None


_STATUS = ("JSON.stringify(window.hiprom ? {step: hiprom.step, phase: hiprom.phase, "
           "done: hiprom.done, error: hiprom.error, frames: hiprom.frames} : null)")


def run_auto_test(cdp: Cdp, url: str, shots: Path | None = None, *,
                  timeout_s: float = 120.0) -> dict[str, Any]:
    """Open ``url`` (an ``?auto=1`` address) and wait for the result; returns ``window.hiprom``.

    With ``shots``, a screenshot is saved there at each new step (``01-safety.png``, …) and
    one of the result at the end.
    """
    cdp.call("Page.navigate", url=url)
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = json.loads(cdp.evaluate(_STATUS) or "null") or {}
        step = status.get("step")
        if step and step not in seen:
            seen.append(step)
            if shots is not None:
                if step in ("setup", "neutral", "reps"):
                    time.sleep(0.4)  # let the first overlay of the step be drawn
                cdp.screenshot(shots / f"{len(seen):02d}-{step}.png")
        if status.get("done"):
            break
        time.sleep(0.1)
    else:
        raise TimeoutError(f"the app did not finish within {timeout_s:.0f} s: {status}")
    time.sleep(0.5)  # images of the result card
    if shots is not None:
        cdp.call("Emulation.setDeviceMetricsOverride", width=1280, height=2400,
                 deviceScaleFactor=1, mobile=False)
        cdp.screenshot(shots / f"{len(seen) + 1:02d}-result-full.png")
        cdp.call("Emulation.clearDeviceMetricsOverride")
    full = cdp.evaluate("JSON.stringify({...window.hiprom, latencies: hiprom.latencies})")
    return {**json.loads(full), "steps_seen": seen}

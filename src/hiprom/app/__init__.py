"""``hiprom app``: the guided self-test as a local, offline web app.

A Starlette server on 127.0.0.1 (:mod:`hiprom.app.server`) serves one page from the package
(:file:`static/`); the page shows the safety screen, picks a camera, streams JPEG frames over
a WebSocket (:mod:`hiprom.app.ws`) and draws what comes back. Frames are measured by the
same pipeline as ``hiprom measure``, through the one adapter :mod:`hiprom.app.session`;
:mod:`hiprom.app.cards` shapes the result card, the history and the report.
"""

from __future__ import annotations

__all__: list[str] = []

"""Helpers for tests that start hiprom as a child process and interrupt it."""

from __future__ import annotations

import signal


def default_sigint() -> None:
    """``preexec_fn`` for a child that a test interrupts with SIGINT, as Ctrl-C would.

    A shell that runs a command in the background without job control starts it with SIGINT
    ignored, and children inherit that; Python then never turns SIGINT into
    KeyboardInterrupt. A test suite started that way (``bash .ci/run &``) would see its
    interrupted child finish normally. Restoring the default lets Python install its own
    handler, as it does when started from a terminal.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)

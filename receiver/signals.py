"""SIGTERM and SIGINT as a stop event, for the long-running commands (the lander, the reconciler)."""

from __future__ import annotations

import logging
import signal
import threading

log = logging.getLogger("callrecon.signals")


def install_stop_signals(stop: threading.Event) -> dict:
    """SIGTERM/SIGINT: finish the item in hand, then exit; returns the handlers it replaced."""

    def handler(signum, frame):
        log.info("stop requested", extra={"fields": {"signal": signal.Signals(signum).name}})
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

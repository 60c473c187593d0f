"""The lander as a child of the gunicorn master: deferred landing works with one command.

Why a supervised process and not a landing thread in each web worker: landing costs several times
the CPU of storing, and a thread would take it under the same GIL as the worker's request
threads, on the acknowledgement path, once per worker. One lander process (`python -m
receiver.landing`, which follows the inbox as `callrecon land --follow` does) at a lower CPU
priority keeps the workers' answers fast; it stands aside while a burst lasts and lands as soon as
it ends (receiver/landing/bursts.py). The master already restarts dead workers; this does
the same for the lander, with a short back-off, and stops it when gunicorn stops.

gunicorn reaps every child with waitpid(-1), the lander included, so this never learns the
lander's exit code (Popen sees ECHILD and reports 0): it only learns that the lander is gone.
Popen waits on a close-on-exec pipe until the child execs; a worker forked meanwhile inherits that
pipe's write end and holds it open for its whole life, so Popen would hang. A lock taken around
Popen and around every os.fork of this process (os.register_at_fork) keeps the two apart.
The lander is started in its own session, so a Ctrl-C at `make run` reaches gunicorn, which stops
it here (SIGTERM), and given the master's pid it exits by itself should the master be killed.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

log = logging.getLogger("callrecon.lander_process")
RESTART_FIRST_S, RESTART_MAX_S = 1.0, 30.0
_spawning = threading.Lock()
_fork_guarded = False


def _guard_forks() -> None:
    """No os.fork (a gunicorn worker) while Popen waits for the lander's exec; see the module text."""
    global _fork_guarded
    if not _fork_guarded:
        os.register_at_fork(
            before=_spawning.acquire, after_in_parent=_spawning.release, after_in_child=_spawning.release
        )
        _fork_guarded = True


def lander_argv(parent_pid: int) -> list[str]:
    """The command the master runs: this interpreter's `python -m receiver.landing`, at nice 10."""
    return ["nice", "-n", "10", sys.executable, "-m", "receiver.landing", str(parent_pid)]


class LanderSupervisor:
    """Keeps one lander process running until stop()."""

    def __init__(self, argv: list[str]):
        self.argv = argv
        self.proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="callrecon-lander", daemon=True)

    def start(self) -> None:
        _guard_forks()
        self._thread.start()

    def _run(self) -> None:
        delay = RESTART_FIRST_S
        while not self._stop.is_set():
            try:
                with _spawning:
                    self.proc = subprocess.Popen(self.argv, start_new_session=True)
            except OSError as exc:
                log.error("could not start the lander: %s; trying again in %.0f s", exc, delay)
            else:
                log.info("lander started", extra={"fields": {"pid": self.proc.pid}})
                started = time.monotonic()
                # poll, not wait: gunicorn may reap the lander first, and then poll says 0.
                while self.proc.poll() is None and not self._stop.wait(0.5):
                    pass
                if self._stop.is_set():
                    return
                if time.monotonic() - started > RESTART_MAX_S:
                    delay = RESTART_FIRST_S  # it ran well: a one-off exit, not a crash loop
                log.warning(
                    "the lander exited; starting it again",
                    extra={"fields": {"pid": self.proc.pid, "restart_in_s": delay}},
                )
            if self._stop.wait(delay):
                return
            delay = min(delay * 2, RESTART_MAX_S)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the lander (it finishes its batch) and wait for it; SIGKILL past the timeout."""
        self._stop.set()
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("the lander did not stop in %.0f s; killing it", timeout)
            proc.kill()

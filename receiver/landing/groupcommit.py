"""Group commit: callbacks that arrive while a commit is in flight share the next one.

Each request thread queues its raw row and waits. The first thread to find no commit in flight
leads: it takes everything queued (its own row included), writes the batch in one statement, one
transaction and one WAL flush, and wakes the others with their ids. When its own row is done and
more are queued, it hands the lead to the oldest waiter, so no request leads forever. A waiter
gets its answer only after the commit that holds its row: `synchronous_commit` stays on and a 2xx
still means the row is on disk.

`write(conn, items)` runs on the database's held autocommit connection, so it must be one
statement: that statement is the whole transaction. If a batch fails for anything but the database
being unavailable, every row of it is retried alone, so one bad row cannot cost the others their
acknowledgement. If the held connection fails, the batch is tried once more on a new one: the
connection may have died while idle (a database restart). Should the first attempt have committed
after all (the connection lost between the commit and its reply), its rows are stored twice:
duplicate raw rows are harmless, landing deduplicates.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg
from psycopg_pool import PoolTimeout

log = logging.getLogger("callrecon.groupcommit")
UNAVAILABLE = (psycopg.OperationalError, PoolTimeout)


class _Slot:
    __slots__ = ("item", "result", "error", "finished", "lead", "wake")

    def __init__(self, item):
        self.item, self.result, self.error = item, None, None
        self.finished = self.lead = False
        self.wake = threading.Event()


class GroupCommit:
    """Batches `write(conn, items) -> results` calls from concurrent threads into shared commits."""

    def __init__(self, db, write: Callable, max_batch: int = 64):
        self.db, self.write, self.max_batch = db, write, max_batch
        self._lock = threading.Lock()
        self._queue: list[_Slot] = []
        self._leading = False

    def submit(self, item):
        """Write `item` in the next commit; returns its result once committed, or raises."""
        slot = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            lead = not self._leading
            self._leading = True
        if not lead:
            slot.wake.wait()
        if not slot.finished:  # we lead: from the start, or handed the lead by a finished leader
            self._lead(slot)
        if slot.error is not None:
            raise slot.error
        return slot.result

    def _lead(self, mine: _Slot) -> None:
        while not mine.finished:
            with self._lock:
                batch = self._queue[: self.max_batch]
                del self._queue[: self.max_batch]
            self._commit(batch)
        with self._lock:
            if self._queue:
                heir = self._queue[0]
                heir.lead = True
                heir.wake.set()
            else:
                self._leading = False

    def _write(self, items: list):
        for attempt in (1, 2):
            conn, fresh = self.db.held()
            try:
                return self.write(conn, items)
            except psycopg.OperationalError:
                self.db.drop_held()
                if fresh or attempt == 2:
                    raise

    def _commit(self, batch: list[_Slot]) -> None:
        try:
            results = self._write([slot.item for slot in batch])
        except UNAVAILABLE as exc:
            for slot in batch:
                slot.error = exc
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:
                log.warning("a group commit of %d rows failed; retrying each alone", len(batch))
                for slot in batch:
                    self._commit([slot])
                return
        else:
            for slot, result in zip(batch, results, strict=False):
                slot.result = result
        for slot in batch:
            slot.finished = True
            slot.wake.set()

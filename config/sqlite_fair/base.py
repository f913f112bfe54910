"""Django's SQLite backend, with write transactions that take turns between processes.

SQLite lets one writer in at a time; a connection that finds the database locked polls it,
its busy handler sleeping up to 100 ms between tries. Under a steady stream of write
transactions (`serve --workers 2` storing chat messages in batches back to back) the process
that holds the lock commits and begins again within a millisecond, and the other process's
polls keep missing the moment it is free: bench scenario 5 with every member sending saw a
batch wait 5.2 s for its BEGIN, and the busy timeout is the only bound.

Here an outermost transaction first takes its turn with two flock(2) locks on files beside the
database: the turnstile, then the writer lock, letting the turnstile go once it holds the
writer lock. A connection that wants to begin again must pass the turnstile first, and a
waiting connection holds it until the writer lock is its own: when two want to write, they
alternate. Each connection has its own open files, so threads of one process take turns
too. The wait is bounded by the connection's `timeout` option, as SQLite's own is, and ends
in the same error. An in-memory database (the test runner's) has no files and no turns.
"""

from __future__ import annotations

import fcntl
import os
import time
from typing import Any

from django.db import OperationalError
from django.db.backends.sqlite3 import base

FIRST_PAUSE_S = 0.0002  # between tries for a lock: doubling up to LAST_PAUSE_S
LAST_PAUSE_S = 0.002


class DatabaseWrapper(base.DatabaseWrapper):
    """Django's SQLite wrapper; its outermost transactions (`BEGIN IMMEDIATE`) take turns.

    It overrides Django's private transaction hooks, which django-stubs leaves out (hence the
    `type: ignore`s); `tests/config/test_sqlite_fair.py` checks them on this Django."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._turn_files: tuple[int, int] | None = None  # (turnstile, writer) descriptors
        self._writing = False

    def _start_transaction_under_autocommit(self) -> None:
        self._take_turn()
        try:
            super()._start_transaction_under_autocommit()  # type: ignore[misc]
        except BaseException:
            self._end_turn()
            raise

    def _commit(self) -> None:
        try:
            super()._commit()  # type: ignore[misc]
        finally:
            self._end_turn()

    def _rollback(self) -> None:
        try:
            super()._rollback()  # type: ignore[misc]
        finally:
            self._end_turn()

    def _close(self) -> None:
        try:
            super()._close()  # type: ignore[misc]
        finally:
            self._end_turn()
            if self._turn_files is not None:
                for fd in self._turn_files:
                    os.close(fd)
                self._turn_files = None

    # ----- turns ------------------------------------------------------------------------

    def _take_turn(self) -> None:
        files = self._files()
        if files is None or self._writing:
            return
        turnstile, writer = files
        deadline = time.monotonic() + float(self.settings_dict["OPTIONS"].get("timeout", 5))
        _lock(turnstile, deadline)
        try:
            _lock(writer, deadline)
        finally:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        self._writing = True

    def _end_turn(self) -> None:
        if self._writing and self._turn_files is not None:
            fcntl.flock(self._turn_files[1], fcntl.LOCK_UN)
        self._writing = False

    def _files(self) -> tuple[int, int] | None:
        """The turnstile and writer lock files, opened once; None for a database that is no
        plain file (in memory, or a `file:` URI, whose options SQLite alone reads)."""
        name = str(self.settings_dict["NAME"])
        if self._turn_files is None and not self.is_in_memory_db() and not name.startswith("file:"):
            flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
            self._turn_files = (
                os.open(f"{name}-turnstile.lock", flags, 0o600),
                os.open(f"{name}-writer.lock", flags, 0o600),
            )
        return self._turn_files


def _lock(fd: int, deadline: float) -> None:
    """flock `fd` exclusively, trying until `deadline` (flock itself cannot time out)."""
    pause = FIRST_PAUSE_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise OperationalError("database is locked") from None
            time.sleep(pause)
            pause = min(pause * 2, LAST_PAUSE_S)

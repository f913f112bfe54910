"""config.sqlite_fair: write transactions on one SQLite file take turns, each connection
waiting at most its `timeout`, and an in-memory database has no turns."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connection

from config.sqlite_fair.base import DatabaseWrapper

HOLD_S = 0.3


def wrapper(path: Path, alias: str, timeout: float = 5.0) -> DatabaseWrapper:
    """A connection of its own to the SQLite file `path`, as the settings configure one."""
    settings = dict(connection.settings_dict)
    options = {**settings["OPTIONS"], "timeout": timeout}
    settings.update(NAME=str(path), OPTIONS=options, ENGINE="config.sqlite_fair")
    db = DatabaseWrapper(settings, alias)
    db.inc_thread_sharing()  # the tests' threads use it one at a time
    return db


def begin(db: DatabaseWrapper) -> None:
    """What an outermost `transaction.atomic()` does first."""
    db.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)


def commit(db: DatabaseWrapper) -> None:
    db.commit()
    db.set_autocommit(True)


def write(db: DatabaseWrapper, who: str) -> None:
    with db.cursor() as cursor:
        cursor.execute("INSERT INTO turns (who) VALUES (%s)", [who])


@pytest.fixture(autouse=True)
def _database_access(django_db_blocker: Any) -> Any:
    """Connections of their own to files of their own: not the test database."""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "turns.sqlite3"
    db = wrapper(path, "setup")
    with db.cursor() as cursor:
        cursor.execute("CREATE TABLE turns (id INTEGER PRIMARY KEY, who TEXT)")
    db.close()
    return path


def run_in_thread(target: Any, failures: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            target()
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_writer_that_begins_again_at_once_lets_the_waiting_one_go_first(database: Path) -> None:
    """SQLite's own busy handler polls: a writer that commits and begins again within a
    millisecond keeps the lock, and the other waits (seconds, in scenario 5 of the bench)."""
    first, second = wrapper(database, "first"), wrapper(database, "second")
    holding = threading.Event()

    def first_writer() -> None:
        for _ in range(2):
            begin(first)
            write(first, "first")
            holding.set()
            time.sleep(HOLD_S)
            commit(first)  # and straight into the next transaction

    def second_writer() -> None:
        holding.wait(5)
        begin(second)  # waits for the first's transaction
        write(second, "second")
        commit(second)

    failures: list[BaseException] = []
    threads = [run_in_thread(first_writer, failures), run_in_thread(second_writer, failures)]
    for thread in threads:
        thread.join(10)
    assert not failures
    with first.cursor() as cursor:
        cursor.execute("SELECT who FROM turns ORDER BY id")
        order = [who for (who,) in cursor.fetchall()]
    assert order == ["first", "second", "first"]
    for db in (first, second):
        db.close()


def test_a_wait_past_the_timeout_fails_as_sqlite_does_and_holds_nothing(database: Path) -> None:
    holder, waiter = wrapper(database, "holder"), wrapper(database, "waiter", timeout=0.2)
    begin(holder)
    write(holder, "holder")
    started = time.monotonic()
    with pytest.raises(OperationalError, match="database is locked"):
        begin(waiter)
    assert time.monotonic() - started >= 0.2
    assert waiter.get_autocommit()  # the failed begin left it as it was
    commit(holder)
    begin(waiter)  # neither lock was left held by the failed wait
    write(waiter, "waiter")
    commit(waiter)
    for db in (holder, waiter):
        db.close()


def test_a_rollback_and_a_close_end_the_turn(database: Path) -> None:
    one, other = wrapper(database, "one", timeout=1.0), wrapper(database, "other", timeout=1.0)
    begin(one)
    one.rollback()
    one.set_autocommit(True)
    begin(other)  # the rollback let it go
    write(other, "other")
    other.close()  # closing mid-transaction lets it go too
    begin(one)
    write(one, "one")
    commit(one)
    one.close()


@pytest.mark.parametrize("name", [":memory:", "file:{dir}/uri.sqlite3"])
def test_a_database_that_is_no_plain_file_takes_no_turns(tmp_path: Path, name: str) -> None:
    """In memory (the test runner's), or a `file:` URI: no lock files are made for it."""
    db = wrapper(tmp_path / "unused", "other")
    db.settings_dict["NAME"] = name.format(dir=tmp_path)
    begin(db)
    commit(db)
    db.close()
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".lock")]


def test_the_settings_use_it() -> None:
    assert connection.settings_dict["ENGINE"] == "config.sqlite_fair"

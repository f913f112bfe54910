"""Row locks as another connection sees them (tests on the database, threads of their own)."""

from __future__ import annotations

import threading

from django.db import OperationalError, connection, transaction
from django.db.models import F, Model


def another_transaction_raises(model: type[Model], cid: int, uid: str) -> bool:
    """Whether another connection can raise `uid`'s unread count in conversation `cid` right
    now (a participant `model`): False while this connection holds that row (PostgreSQL) or
    the database's write lock (SQLite)."""
    done: list[bool] = []

    def attempt() -> None:
        try:
            with transaction.atomic():
                rows = model._default_manager.filter(conversation_id=cid, uid=uid)
                list(rows.select_for_update(nowait=True))
                rows.update(unread_count=F("unread_count") + 1)
            done.append(True)
        except OperationalError:  # PostgreSQL: the row is locked; SQLite: the database is
            done.append(False)
        finally:
            connection.close()

    other = threading.Thread(target=attempt)
    other.start()
    other.join(30)
    return done == [True]

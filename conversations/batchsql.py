"""The statements of a batch of messages (`conversations.sending`), written out once.

On this path the ORM cost more than the database: for a batch of 50 messages in conversations
of 10, building and compiling each statement and turning each row into Python through its
converters took about 12 ms, the statements themselves about 3.5 ms (bench/RESULTS.md). These
are the same statements as SQL that SQLite and PostgreSQL both take, their rows plain tuples.
Every value goes in as a parameter, adapted as the ORM would (`connection.ops`, the field's
own preparation).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence, Sized
from functools import cache
from typing import Any, NamedTuple

from django.db import IntegrityError, connection

from .models import Conversation, Message, Participant


class NewMessage(NamedTuple):
    """A message as the batch stores it; `pk` is set by the INSERT (`insert_messages`)."""

    pk: int | None
    conversation_id: int
    sender_id: str
    content: str
    attachments: list[Any]
    client_msg_id: str | None
    created_at: dt.datetime


def locked_members(cids: Sequence[int]) -> list[tuple[Any, ...]]:
    """(id, conversation_id, uid, account_id, unread_count, the conversation's title) of each
    participant of `cids`, in one order.

    On PostgreSQL every row of those users in those accounts is locked until the commit,
    in that order, as `Memberships.lock_users` does for a single message: the batch reads
    their totals over the account after raising their counts, and another transaction's
    rise elsewhere must wait rather than be missed. SQLite's IMMEDIATE transaction holds the
    database's write lock already.
    """
    marks = _marks(cids)
    if not connection.features.has_select_for_update_of:
        return _rows(_members_sql(f"p.conversation_id IN ({marks})", ""), cids)
    table = _table(Participant)
    where = (
        f"p.uid IN (SELECT uid FROM {table} WHERE conversation_id IN ({marks})) AND "
        f"p.account_id IN (SELECT account_id FROM {table} WHERE conversation_id IN ({marks}))"
    )
    rows = _rows(_members_sql(where, " FOR UPDATE OF p"), [*cids, *cids])
    wanted = set(cids)
    return [row for row in rows if row[1] in wanted]


def _members_sql(where: str, lock: str) -> str:
    return (
        f"SELECT p.id, p.conversation_id, p.uid, p.account_id, p.unread_count, c.title "
        f"FROM {_table(Participant)} p JOIN {_table(Conversation)} c "
        f"ON c.id = p.conversation_id WHERE {where} ORDER BY p.joined_at, p.id{lock}"
    )


def insert_messages(messages: Sequence[NewMessage]) -> list[NewMessage | None]:
    """One INSERT of every message but those whose client id this sender already used in this
    conversation (left out by the database, as the unique index finds them); returns each
    message with its primary key, None where it was left out (RETURNING gives the rows in
    the order of VALUES, as the ORM's `bulk_create` relies on too).

    Skipping them in the INSERT itself spares the savepoint that catching the unique
    violation needed: two round trips of every batch with client ids on PostgreSQL.
    """
    prepare_json = Message._meta.get_field("attachments").get_db_prep_save
    when = {m.created_at: _when(m.created_at) for m in messages}  # a batch's share one
    values: list[Any] = []
    for m in messages:
        attachments = prepare_json(m.attachments, connection)
        values += (m.conversation_id, m.sender_id, m.content, attachments, m.client_msg_id)
        values.append(when[m.created_at])
    rows = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(messages))
    sql = (
        f"INSERT INTO {_table(Message)} "
        f"(conversation_id, sender_id, content, attachments, client_msg_id, created_at) "
        f"VALUES {rows} ON CONFLICT (conversation_id, sender_id, client_msg_id) "
        f"WHERE client_msg_id IS NOT NULL DO NOTHING "
        f"RETURNING id, conversation_id, sender_id, client_msg_id"
    )
    returned = iter(_rows(sql, values))
    inserted: list[NewMessage | None] = []
    row = next(returned, None)
    for m in messages:
        if row is not None and tuple(row[1:]) == (m.conversation_id, m.sender_id, m.client_msg_id):
            inserted.append(m._replace(pk=row[0]))
            row = next(returned, None)
        elif m.client_msg_id is None:  # never left out: the rows must have come in order
            raise IntegrityError("the INSERT returned its rows out of order")
        else:
            inserted.append(None)
    if row is not None:
        raise IntegrityError("the INSERT returned a row of no message")
    return inserted


def touch_conversations(cids: Sequence[int], now: dt.datetime) -> None:
    sql = f"UPDATE {_table(Conversation)} SET last_activity = %s WHERE id IN ({_marks(cids)})"
    _execute(sql, [_when(now), *cids])


def raise_unread(cids: Sequence[int], up: int, now: dt.datetime, but: Sequence[int]) -> None:
    """Every participant of `cids` except the rows `but`: `up` more unread, active `now`."""
    sql = (
        f"UPDATE {_table(Participant)} SET unread_count = unread_count + %s, "
        f"last_activity = %s WHERE conversation_id IN ({_marks(cids)})"
    )
    if but:
        sql += f" AND id NOT IN ({_marks(but)})"
    _execute(sql, [up, _when(now), *cids, *but])


def update_senders(rises: dict[int, int], last_read: dict[int, int], now: dt.datetime) -> None:
    """The senders' rows (`last_read`: row -> their own last new message), each `rises[row]`
    more unread (the others' messages of the batch), active `now`."""
    pks = list(last_read)
    if not pks:
        return
    sql = (
        f"UPDATE {_table(Participant)} SET last_activity = %s, "
        f"unread_count = unread_count + {_case(pks)}, last_read_message_id = {_case(pks)} "
        f"WHERE id IN ({_marks(pks)})"
    )
    params: list[Any] = [_when(now)]
    params += _case_params(pks, rises)
    params += _case_params(pks, last_read)
    _execute(sql, params + pks)


def unread_totals(cids: Sequence[int]) -> list[tuple[str, str, int]]:
    """(account_id, uid, unread over every conversation of that account) for each user of
    `cids`, and every other account of those users (the caller picks).

    With `account_id IN` beside `uid IN`, SQLite probed its (uid, account_id) index for every
    user and account pair of the batch (100 accounts of 10 users: 100,000 probes, 19 ms
    instead of 3), so the query selects by user only.
    """
    table = _table(Participant)
    sql = (
        f"SELECT account_id, uid, SUM(unread_count) FROM {table} WHERE uid IN "
        f"(SELECT uid FROM {table} WHERE conversation_id IN ({_marks(cids)})) "
        f"GROUP BY account_id, uid"
    )
    return _rows(sql, cids)


# ----- helpers ------------------------------------------------------------------------------


@cache
def _table(model: type[Any]) -> str:
    return str(connection.ops.quote_name(model._meta.db_table))


def _marks(values: Sized) -> str:
    return ", ".join(["%s"] * len(values))


def _case(pks: Sequence[int]) -> str:
    return "CASE id " + "WHEN %s THEN %s " * len(pks) + "END"


def _case_params(pks: Sequence[int], by_pk: dict[int, int]) -> list[int]:
    """The parameters of `_case(pks)`: each row and its value."""
    return [value for pk in pks for value in (pk, by_pk[pk])]


def _when(now: dt.datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(now)


def _execute(sql: str, params: Iterable[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))


def _rows(sql: str, params: Iterable[Any]) -> list[Any]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return cursor.fetchall()

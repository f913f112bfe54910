"""Messages stored in batches (group commit): one outcome per request, counts and events as if
each message had been sent alone, and the writer that gathers concurrent senders."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.db import connection, transaction
from django.db.models import Count
from django.test.utils import CaptureQueriesContext

from conversations import services
from conversations.models import Conversation, Message, Participant
from conversations.sending import MAX_BATCH, MessageRequest
from conversations.wire import message_wire
from prospects.models import ProspectParticipant
from realtime.batching import GroupCommit
from realtime.emit import Emitted
from realtime.envelope import Forbidden, NotFound
from tests.support.locking import another_transaction_raises

pytestmark = pytest.mark.django_db(transaction=True)

TEAM = "/v1/conversation"


def create(uid: str, users: list[str], account_id: str = "acme") -> int:
    return int(services.conversation_create(uid=uid, account_id=account_id, users=users)["_id"])


def request(
    cid: int, uid: str, content: str = "hi", account_id: str = "acme", **fields
) -> MessageRequest:
    return MessageRequest(cid=cid, uid=uid, account_id=account_id, content=content, **fields)


def vars_of(message: MessageRequest) -> dict:
    return {name: getattr(message, name) for name in MessageRequest.__slots__}


def unread(cid: int) -> dict[str, int]:
    return dict(Participant.objects.filter(conversation_id=cid).values_list("uid", "unread_count"))


def counters(emitted: list[Emitted]) -> list[tuple[str, dict]]:
    return [(e.to[0], e.args[0]) for e in emitted if e.event == "counter" and e.namespace == TEAM]


def test_a_batch_answers_each_request_and_counts_as_if_sent_one_by_one(emitted) -> None:
    first = create("alice", ["bob", "carol"])
    second = create("bob", ["carol"])
    elsewhere = create("zed", ["yan"], account_id="other")
    outsiders = create("bob", ["dave"])
    stored, _ = services.message_send(
        **vars_of(request(first, "carol", "before", client_msg_id="c-1"))
    )
    emitted.clear()

    outcomes = services.messages_send(
        [
            request(first, "alice", "one"),
            request(first, "bob", "two", client_msg_id="b-1"),
            request(outsiders, "alice", "not mine"),  # a conversation of the account: FORBIDDEN
            request(elsewhere, "alice", "not ours"),  # another account's: NOT_FOUND
            request(first, "carol", "again", client_msg_id="c-1"),  # stored before: not again
            request(second, "carol", "three"),
            request(first, "bob", "two again", client_msg_id="b-1"),  # the same retry twice
        ]
    )

    one, two, forbidden, not_found, repeat, three, two_again = outcomes
    assert isinstance(forbidden, Forbidden) and isinstance(not_found, NotFound)
    assert repeat == (stored, False)
    assert two_again == (two[0], False)
    assert [one[1], two[1], three[1]] == [True, True, True]
    assert [one[0]["content"], two[0]["content"], three[0]["content"]] == ["one", "two", "three"]
    assert Message.objects.count() == 4  # "before", "one", "two", "three"
    assert unread(first) == {"alice": 2, "bob": 2, "carol": 2}
    assert unread(second) == {"bob": 1, "carol": 0}
    alice, bob = (Participant.objects.get(conversation_id=first, uid=u) for u in ("alice", "bob"))
    assert str(alice.last_read_message_id) == one[0]["_id"]
    assert str(bob.last_read_message_id) == two[0]["_id"]

    new = [e for e in emitted if e.event == "new_message" and e.namespace == TEAM]
    assert [e.args[0]["message"] for e in new] == [one[0], two[0], three[0]]
    assert new[2].to == ("user:bob", "user:carol")
    # each message's counters as of that message: totals over the account, in order
    assert counters(emitted) == [
        ("user:bob", {"cid": str(first), "unread_count": 2, "total_unread": 2}),
        ("user:carol", {"cid": str(first), "unread_count": 1, "total_unread": 1}),
        ("user:alice", {"cid": str(first), "unread_count": 2, "total_unread": 2}),
        ("user:carol", {"cid": str(first), "unread_count": 2, "total_unread": 2}),
        ("user:bob", {"cid": str(second), "unread_count": 1, "total_unread": 3}),
    ]


def test_a_full_batch_is_one_transaction_with_exact_counts(emitted) -> None:
    """MAX_BATCH messages over many conversations: every statement takes that many values
    (no fallback to one transaction per message), and each count is as if sent alone."""
    members = [f"m{k}" for k in range(8)]
    cids = [create(members[0], members[1:], account_id=f"acct{n % 5}") for n in range(40)]
    batch = [
        request(
            cids[i % len(cids)], members[i % len(members)], f"#{i}", account_id=f"acct{i % 40 % 5}"
        )
        for i in range(MAX_BATCH)
    ]
    with CaptureQueriesContext(connection) as queries:
        outcomes = services.messages_send(batch)
    assert all(created for _, created in outcomes)
    inserts = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(inserts) == 1
    assert Message.objects.count() == MAX_BATCH
    for cid in cids:
        sent = [r for r in batch if r.cid == cid]
        expected = {uid: sum(r.uid != uid for r in sent) for uid in members}
        assert unread(cid) == expected


def test_a_retry_in_a_batch_is_left_out_by_the_insert_itself(emitted) -> None:
    """The INSERT skips a client id stored before (ON CONFLICT DO NOTHING): no savepoint to
    catch the unique violation, two round trips fewer a batch on PostgreSQL."""
    cid = create("alice", ["bob"])
    stored, _ = services.message_send(**vars_of(request(cid, "bob", "first", client_msg_id="b-1")))
    with CaptureQueriesContext(connection) as queries:
        outcomes = services.messages_send(
            [
                request(cid, "alice", "new", client_msg_id="a-1"),
                request(cid, "bob", "retried", client_msg_id="b-1"),
                request(cid, "bob", "no client id"),
            ]
        )
    assert [created for _, created in outcomes] == [True, False, True]
    assert outcomes[1][0] == stored
    assert [message["content"] for message, _ in outcomes] == ["new", "first", "no client id"]
    assert not [q for q in queries.captured_queries if "SAVEPOINT" in q["sql"].upper()]
    assert sorted(Message.objects.values_list("content", flat=True)) == [
        "first",
        "new",
        "no client id",
    ]


def test_a_batch_over_several_accounts_counts_each_account_apart(emitted) -> None:
    """The same user ids in two accounts: each counter's total is over its own account."""
    ours = create("alice", ["bob"])
    theirs = create("alice", ["bob"], account_id="other")
    older = create("alice", ["bob"], account_id="other")
    services.messages_send([request(older, "alice", "before", account_id="other")])
    emitted.clear()

    services.messages_send(
        [request(ours, "alice", "one"), request(theirs, "alice", "two", account_id="other")]
    )

    assert counters(emitted) == [
        ("user:bob", {"cid": str(ours), "unread_count": 1, "total_unread": 1}),
        ("user:bob", {"cid": str(theirs), "unread_count": 1, "total_unread": 2}),
    ]


def test_what_a_batch_writes_reads_back_as_the_orm_stores_it(emitted) -> None:
    """The batch's statements are written out by hand (conversations.batchsql): the rows they
    store read back through the ORM as the wire the senders were answered with."""
    cid = create("alice", ["bob"])
    files = [{"url": "https://cdn.example/a.png", "size": 3, "tags": ["x", None, 1.5]}]
    before = Participant.objects.get(conversation_id=cid, uid="bob").last_activity

    outcomes = services.messages_send(
        [
            request(cid, "alice", "é ✓ 'quoted' \"double\"", attachments=files, client_msg_id="a"),
            request(cid, "bob", ""),
        ]
    )

    answered = [outcome[0] for outcome in outcomes]  # type: ignore[index]
    rows = Message.objects.filter(conversation_id=cid).order_by("id")
    assert [message_wire(row) for row in rows] == answered
    assert rows[0].attachments == files and rows[1].attachments == []
    conversation = Conversation.objects.get(pk=cid)
    assert conversation.last_activity == rows[0].created_at > before
    participants = Participant.objects.filter(conversation_id=cid)
    assert {p.uid: p.last_activity for p in participants} == {
        "alice": rows[0].created_at,
        "bob": rows[0].created_at,
    }


def test_a_request_that_breaks_the_batch_fails_alone(emitted) -> None:
    cid = create("alice", ["bob"])
    poison = request(cid, "bob", "bad", attachments=[{"not json": {1, 2}}])

    outcomes = services.messages_send([request(cid, "alice", "ok"), poison, request(cid, "bob")])

    assert isinstance(outcomes[1], TypeError)
    assert [outcome[1] for outcome in (outcomes[0], outcomes[2])] == [True, True]  # type: ignore[index]
    assert list(Message.objects.order_by("id").values_list("content", flat=True)) == ["ok", "hi"]
    assert unread(cid) == {"alice": 1, "bob": 1}
    assert len([e for e in emitted if e.event == "new_message" and e.namespace == TEAM]) == 2


def test_message_send_alone_still_raises_its_error() -> None:
    cid = create("alice", ["bob"])
    with pytest.raises(Forbidden):
        services.message_send(**vars_of(request(create("bob", ["dave"]), "alice")))
    with pytest.raises(NotFound):
        services.message_send(cid=cid, uid="alice", account_id="other", content="x")


async def test_concurrent_senders_are_stored_once_each_with_exact_counts() -> None:
    make = database_sync_to_async(create)
    cids = [await make(f"u{c}0", [f"u{c}{k}" for k in range(1, 4)]) for c in range(5)]
    senders = [(cid, f"u{c}{k}") for c, cid in enumerate(cids) for k in range(4)]
    calls = []
    batch = services.messages_send

    def counted(requests):
        calls.append(len(requests))
        return batch(requests)

    writer = GroupCommit(counted, max_batch=8)
    sends = [
        writer.submit(request(cid, uid, f"{uid}-{n}", client_msg_id=f"{uid}-{n % 3}"))
        for n in range(3)
        for cid, uid in senders
    ]
    sends += [writer.submit(request(cids[0], "u10", "stranger"))]  # u10 is in cids[1] only
    outcomes = await asyncio.gather(*sends, return_exceptions=True)

    assert isinstance(outcomes[-1], Forbidden)
    assert all(isinstance(outcome, tuple) and outcome[1] for outcome in outcomes[:-1])
    assert max(calls) > 1 and sum(calls) == len(sends)  # gathered into batches
    assert all(size <= 8 for size in calls)

    def stored() -> tuple[int, dict, list]:
        per_sender = Message.objects.values("sender_id").annotate(n=Count("id"))
        counts = list(Participant.objects.values_list("unread_count", flat=True))
        return Message.objects.count(), {r["sender_id"]: r["n"] for r in per_sender}, counts

    total, per_sender, counts = await database_sync_to_async(stored)()
    assert total == 3 * len(senders)
    assert set(per_sender.values()) == {3}
    assert counts == [9] * len(senders)  # 3 messages from each of the 3 others

    # the same requests again: every one a retry, stored already
    again = await asyncio.gather(
        *(writer.submit(request(cid, uid, "x", client_msg_id=f"{uid}-0")) for cid, uid in senders)
    )
    assert not any(created for _, created in again)
    assert (await database_sync_to_async(stored)())[0] == total


async def test_group_commit_gives_each_caller_its_outcome_and_a_failure_to_all() -> None:
    calls: list[list[int]] = []

    def batch(items: list[int]) -> list[int | Exception]:
        calls.append(items)
        if 13 in items:
            raise RuntimeError("unlucky batch")
        return [ValueError(item) if item < 0 else item * 2 for item in items]

    writer: GroupCommit[int, int] = GroupCommit(batch, max_batch=3)
    outcomes = await asyncio.gather(*map(writer.submit, [1, -2, 3, 4]), return_exceptions=True)
    assert outcomes[0] == 2 and outcomes[2:] == [6, 8]
    assert isinstance(outcomes[1], ValueError)
    # every caller waiting when the writer starts, up to max_batch; the rest next
    assert calls == [[1, -2, 3], [4]]

    failed = await asyncio.gather(*map(writer.submit, [5, 13]), return_exceptions=True)
    assert [str(outcome) for outcome in failed] == ["unlucky batch"] * 2
    assert await writer.submit(7) == 14  # the writer goes on


def test_a_batch_holds_its_users_rows_in_their_other_conversations_until_it_commits() -> None:
    """A batch reads each recipient's total over the account after raising their counts: no
    other transaction may raise the same user's count elsewhere meanwhile, or both totals
    would miss the other's rise (on PostgreSQL; SQLite has one writer at a time)."""
    first = create("alice", ["bob"])
    second = create("carol", ["bob"])
    with transaction.atomic():
        services.messages_send([request(first, "alice", "hello")])
        assert not another_transaction_raises(Participant, second, "bob")
    assert another_transaction_raises(Participant, second, "bob")
    assert unread(second) == {"carol": 0, "bob": 1}


@pytest.mark.parametrize("model", [Participant, ProspectParticipant])
def test_no_index_holds_what_every_message_changes_on_each_participant(model) -> None:
    """A message raises `unread_count` and moves `last_activity` on every participant's row.
    With neither in an index, PostgreSQL makes each of those rows' UPDATE a HOT update (no
    index written, no dead version left in an index); `last_activity` in the list index made
    a batch of 50 messages 31-48 ms instead of 18-26 (bench/RESULTS.md)."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
    indexed = {
        column for info in constraints.values() if info["index"] for column in info["columns"]
    }
    assert {"uid", "account_id", "conversation_id"} <= indexed  # a user's rows, a conversation's
    assert not indexed & {"unread_count", "last_activity"}

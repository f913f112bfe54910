"""Nothing acked is lost: two instances on one redis, the participants of one conversation
split across them, four senders sending numbered messages without pause. Mid-run Redis is
restarted (on the same port: a fresh, empty Redis), later one instance is SIGTERMed; its
senders and listeners reconnect to the survivor, and a sender whose ack was lost sends the
same `client_msg_id` again (every 7th message is also sent again after its ack, as if the
ack had been lost on the way).

Afterwards: every acked message is stored exactly once and the stored messages are exactly
the acked `client_msg_id`s; every participant on the survivor (connected throughout) got
`new_message` for every acked message, once; the others got every message acked while they
were connected (but in the last MARGIN_S before their server said goodbye), once per
connection.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import socketio

from tests.support.conversations import NS, ok, unique
from tests.support.servers import RedisServer, ServerProcess
from tests.support.tokens import user_token

pytestmark = pytest.mark.redis

ACK_TIMEOUT_S = 5.0
SEND_PAUSE_S = 0.08
RESEND_EVERY = 7  # every 7th message is sent again after its ack, as if the ack was lost
REDIS_DOWN_AT_S, REDIS_DOWN_FOR_S = 2.0, 1.5
SIGTERM_AT_S = 10.0
RUN_FOR_S = 14.0
MARGIN_S = 1.0  # a message acked this close to a SIGTERMed server's goodbye may miss its sockets


class Gone(Exception):
    """The socket was disconnected before the ack came."""


@dataclass
class Acked:
    client_msg_id: str
    message_id: str
    first_sent: float
    acked: float


@dataclass
class Participant:
    """One user of the conversation: a python-socketio client that records, per connection,
    the `new_message`s it gets, and when it was connected."""

    uid: str
    token: str
    url: str
    received: list[Counter[str]] = field(default_factory=list)  # per connection
    intervals: list[list[float]] = field(default_factory=list)
    sio: socketio.AsyncClient | None = None
    gone: asyncio.Future[None] | None = None

    async def connect(self, url: str) -> None:
        self.url = url
        sio = socketio.AsyncClient(reconnection=False)
        gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        received: Counter[str] = Counter()

        async def on_new_message(payload: dict[str, Any]) -> None:
            received[payload["message"]["_id"]] += 1

        async def on_disconnect(*_: Any) -> None:
            self.intervals[-1][1] = time.monotonic()
            if not gone.done():
                gone.set_result(None)

        sio.on("new_message", on_new_message, namespace=NS)
        sio.on("disconnect", on_disconnect, namespace=NS)
        await sio.connect(
            url, namespaces=[NS], auth={"token": self.token}, transports=["websocket"]
        )
        self.intervals.append([time.monotonic(), float("inf")])
        self.received.append(received)
        self.sio, self.gone = sio, gone

    async def call(self, event: str, payload: dict[str, Any]) -> Any:
        """Emit with an ack; Gone if the socket is disconnected before the ack comes."""
        assert self.sio is not None and self.gone is not None
        if self.gone.done():
            raise Gone()
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def on_ack(*args: Any) -> None:
            if not answer.done():
                answer.set_result(args[0] if args else None)

        try:
            await self.sio.emit(event, payload, namespace=NS, callback=on_ack)
        except socketio.exceptions.SocketIOError:
            raise Gone() from None
        done, _ = await asyncio.wait(
            {answer, self.gone}, timeout=ACK_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        if answer not in done:
            raise Gone()
        return answer.result()

    async def close(self) -> None:
        if self.sio is not None:
            await self.sio.disconnect()
            await self.sio.shutdown()

    def got(self) -> set[str]:
        """Every message id received on any of its connections."""
        return {message_id for counts in self.received for message_id in counts}

    def twice(self) -> list[str]:
        """Ids one connection received more than once."""
        return [m for counts in self.received for m, count in counts.items() if count > 1]

    def connected_over(self, start: float, end: float) -> bool:
        return any(begin <= start and end <= stop - MARGIN_S for begin, stop in self.intervals)


class Sender:
    """Sends `message` after `message` to the conversation until told to stop; an ack lost
    to a disconnect is retried with the same `client_msg_id` on the survivor."""

    def __init__(self, participant: Participant, cid: str, survivor: str) -> None:
        self.participant = participant
        self.cid = cid
        self.survivor = survivor
        self.acked: list[Acked] = []
        self.retries = 0
        self.resends = 0

    async def send(self, client_msg_id: str) -> Acked:
        payload = {"cid": self.cid, "content": client_msg_id, "client_msg_id": client_msg_id}
        first_sent = time.monotonic()
        for _attempt in range(20):
            try:
                ack = await self.participant.call("message", payload)
            except Gone:
                self.retries += 1
                await self.reconnect()
                continue
            message = ok(ack)["message"]
            assert message["client_msg_id"] == client_msg_id, message
            return Acked(client_msg_id, message["_id"], first_sent, time.monotonic())
        raise AssertionError(f"{client_msg_id} never acked")

    async def reconnect(self) -> None:
        await self.participant.close()
        for _attempt in range(50):
            try:
                await self.participant.connect(self.survivor)
                return
            except socketio.exceptions.ConnectionError:
                await asyncio.sleep(0.1)
        raise AssertionError("could not reconnect to the survivor")

    async def run(self, stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            client_msg_id = f"{self.participant.uid}-{n}"
            acked = await self.send(client_msg_id)
            self.acked.append(acked)
            if n % RESEND_EVERY == RESEND_EVERY - 1:  # the ack "was lost": the same id again
                again = await self.send(client_msg_id)
                assert again.message_id == acked.message_id, (acked, again)
                self.resends += 1
            n += 1
            await asyncio.sleep(SEND_PAUSE_S)


async def follow(participant: Participant, survivor: str, stop: asyncio.Event) -> None:
    """A listener: reconnects to the survivor when its server goes."""
    while not stop.is_set():
        assert participant.gone is not None
        gone: asyncio.Future[Any] = asyncio.ensure_future(asyncio.shield(participant.gone))
        stopped: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        await asyncio.wait({gone, stopped}, return_when=asyncio.FIRST_COMPLETED)
        gone.cancel()
        stopped.cancel()
        if participant.gone.done() and not stop.is_set():
            await participant.close()
            await participant.connect(survivor)


def stored_messages(database: str, cid: str) -> list[tuple[str, str]]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT id, client_msg_id FROM conversations_message WHERE conversation_id = ?",
            (int(cid),),
        ).fetchall()
    return [(str(row[0]), row[1]) for row in rows]


async def test_acked_messages_are_stored_once_and_delivered_through_restarts(
    server_factory, server_database: str
) -> None:
    redis = RedisServer().start()  # this test's own: it is restarted
    try:
        await run_scenario(server_factory, server_database, redis)
    finally:
        redis.stop()


async def run_scenario(server_factory, database: str, redis: RedisServer) -> None:
    env = {"REDIS_URL": redis.url, "SHUTDOWN_TIMEOUT_S": "5", "PRESENCE_GRACE_S": "1"}
    doomed: ServerProcess = server_factory(**env)
    survivor: ServerProcess = server_factory(**env)
    account = unique("acct")
    people = []
    for n, role in enumerate(["sender"] * 4 + ["listener"] * 4):
        uid = unique(f"{role}{n}")
        url = (doomed if n % 2 == 0 else survivor).url  # each role on both instances
        people.append(Participant(uid, user_token(uid, account), url))
    for person in people:
        await person.connect(person.url)
    senders_people, listeners = people[:4], people[4:]
    try:
        creator = senders_people[1]  # on the survivor
        others = [person.uid for person in people if person is not creator]
        created = ok(await creator.call("add_conversation", {"users": others}))
        cid = created["conversation"]["_id"]
        senders = [Sender(person, cid, survivor.url) for person in senders_people]
        stop = asyncio.Event()
        started = time.monotonic()
        tasks = [asyncio.ensure_future(sender.run(stop)) for sender in senders]
        tasks += [asyncio.ensure_future(follow(person, survivor.url, stop)) for person in listeners]

        await asyncio.sleep(REDIS_DOWN_AT_S)
        redis_down = time.monotonic()
        await asyncio.to_thread(redis.restart, REDIS_DOWN_FOR_S)
        redis_up = time.monotonic()
        await asyncio.sleep(max(SIGTERM_AT_S - (time.monotonic() - started), 0))
        doomed.signal(signal.SIGTERM)
        assert doomed.process is not None
        await asyncio.to_thread(doomed.process.wait, 15)
        await asyncio.sleep(max(RUN_FOR_S - (time.monotonic() - started), 0))
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)

        acked = [message for sender in senders for message in sender.acked]
        await settle(people, acked)
        during = [m for m in acked if redis_down <= m.acked <= redis_up]
        report(senders, people, acked, during)
        check(database, cid, senders, people, acked)
    finally:
        await asyncio.gather(*(person.close() for person in people), return_exceptions=True)


async def settle(people: list[Participant], acked: list[Acked], timeout: float = 10.0) -> None:
    """Wait until every participant has what it is owed (or the time is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(set(owed(person, acked)) <= person.got() for person in people):
            return
        await asyncio.sleep(0.1)


def owed(person: Participant, acked: list[Acked]) -> list[str]:
    return [m.message_id for m in acked if person.connected_over(m.first_sent, m.acked)]


def report(
    senders: list[Sender], people: list[Participant], acked: list[Acked], during: list[Acked]
) -> None:
    print(
        f"\nacked {len(acked)} messages ({len(during)} while Redis was down);"
        f" {sum(s.retries for s in senders)} retries after a lost ack,"
        f" {sum(s.resends for s in senders)} resends of an acked id"
    )
    for person in people:
        print(
            f"  {person.uid}: owed {len(owed(person, acked))}, received"
            f" {[sum(counts.values()) for counts in person.received]} new_message on its"
            f" connection(s)"
        )


def check(
    database: str, cid: str, senders: list[Sender], people: list[Participant], acked: list[Acked]
) -> None:
    stored = stored_messages(database, cid)
    stored_ids = Counter(client_msg_id for _, client_msg_id in stored)
    acked_ids = {m.client_msg_id: m.message_id for m in acked}
    assert len(acked_ids) == len(acked), "an id was acked twice as a new message"
    assert not [cmid for cmid, count in stored_ids.items() if count > 1], "stored twice"
    assert len(stored) == len(acked_ids), (len(stored), len(acked_ids))
    assert dict((cmid, row_id) for row_id, cmid in stored) == acked_ids
    assert sum(s.retries for s in senders) > 0, "no ack was lost: the SIGTERM came too late"
    assert sum(s.resends for s in senders) > 0
    print(f"stored {len(stored)} messages, {len(set(stored_ids))} distinct client_msg_ids")
    throughout = [p for p in people if len(p.intervals) == 1]
    assert len(throughout) == 4  # those on the survivor
    for person in people:
        missing = set(owed(person, acked)) - person.got()
        late = sorted(
            round(min(stop for _, stop in person.intervals if stop >= m.acked) - m.acked, 2)
            for m in acked
            if m.message_id in missing
        )
        assert not missing, f"{person.uid} missed {len(missing)}, acked {late} s before it left"
        assert not person.twice(), f"{person.uid} got {person.twice()} twice on one connection"
    for person in throughout:
        assert person.got() == set(acked_ids.values())

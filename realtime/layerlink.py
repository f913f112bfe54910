"""This process's end of the channel layer: its channel, a listener that hands each message to
its handler, request/reply with other processes, and health with automatic recovery.

Health is "hearing ourselves": an echo sent to this process's own channel must come back
through the listener. It works alike on both Redis layers (pub/sub, the default, and core).
Before this process joins a group or gives its channel to another process, one echo must have
come back (`ready`): on the pub/sub layer a message sent before the subscription is lost. While
nothing else fails, an echo every HEALTH_S notices a dead subscription or a Redis gone quiet.

While the layer fails (Redis down), the process keeps serving its own sockets and reports
`degraded`; the broadcasts it cannot send are held (up to MAX_HELD) and sent, in order, once
the layer answers again, this process has rejoined its groups (a restarted Redis has
forgotten them) and the other processes have had the time to rejoin theirs. So are the
broadcasts sent in the RESEND_S before the failure, which Redis may have lost unread
(receivers drop a broadcast they already have). A group_send that skipped full channels is
counted and logged as an error, never silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer, get_channel_layer

from . import metrics
from .conf import realtime_settings
from .groups import hub_channel
from .ids import PROCESS_ID
from .pipelined import Pairs, Publisher, pipelined_publisher
from .tasks import spawn

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], None]

MAX_HELD = 10_000  # broadcasts held while the layer fails; past it the oldest are dropped
# (a message of many broadcasts, hub.Hub.broadcast_many, counts as its broadcasts)
HELD = "sio.held"  # up to HELD_BATCH held broadcasts to one group, sent as one message
HELD_BATCH = 100
PROBE_S = 1.0  # how often a failing layer is probed
SETTLE_S = 2 * PROBE_S  # after recovery: every other process has probed and rejoined by then
RESEND_S = 5.0  # broadcasts sent this long before a failure are sent again after it
HEALTH_S = 5.0  # an echo this often while the layer is healthy
ECHO_TIMEOUT_S = 2.0  # an echo not back by then: the layer fails
ECHO_RESEND_S = 0.05  # an echo not back by then is sent again (then at doubling intervals)
ECHO = "sio.echo"
REPLY = "sio.reply"


class LayerLink:
    def __init__(self, groups: Callable[[], Iterable[str]], process_id: str = PROCESS_ID) -> None:
        """`groups()` names the groups this process belongs to, for the recovery to rejoin."""
        self.process_id = process_id
        self.channel = hub_channel(process_id)
        self.handlers: dict[str, Handler] = {
            "sio.noop": lambda message: None,
            HELD: self._on_held,
            ECHO: self._on_echo,
            REPLY: self._on_reply,
        }
        self._groups = groups
        self._layer: Any = None
        self._layer_loaded = False
        self._listener: asyncio.Task[None] | None = None
        self._failing_since: float | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._slots: asyncio.Semaphore | None = None
        self._held: deque[tuple[str, dict[str, Any]]] = deque()
        self._held_broadcasts = 0  # what `_held` counts for MAX_HELD
        self._recent: deque[tuple[float, str, dict[str, Any]]] = deque()
        self._dropped = 0  # held broadcasts dropped in this outage
        self._echoes: dict[str, asyncio.Future[None]] = {}
        self._replies: dict[str, Replies] = {}  # by request id
        self._unanswering: set[str] = set()  # see request_all
        self._ready: asyncio.Future[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._publisher: Publisher | None = None  # set with the layer
        self._answer_publisher: Publisher | None = None  # the same, to channels
        self._answers: Pairs = []  # replies to send, (channel, message)
        self._answering: asyncio.Task[None] | None = None

    @property
    def slots(self) -> asyncio.Semaphore:
        """Bounds the layer operations in flight (LAYER_CONCURRENCY)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(int(realtime_settings.LAYER_CONCURRENCY))
        return self._slots

    @property
    def layer(self) -> Any:
        """The channel layer, or None when this process is the only one (in-memory layer)."""
        if not self._layer_loaded:
            layer = get_channel_layer()
            self._layer = None if isinstance(layer, InMemoryChannelLayer) else layer
            self._publisher = pipelined_publisher(self._layer)
            self._answer_publisher = pipelined_publisher(self._layer, groups=False)
            self._layer_loaded = True
        return self._layer

    def register(self, message_type: str, handler: Handler) -> None:
        """Handle layer messages of `message_type` (dotted, `sio.` prefix) with `handler`."""
        self.handlers[message_type] = handler

    def listen(self) -> None:
        """Start the listener and the health watch (once); a no-op on the in-memory layer."""
        if self.layer is not None and (self._listener is None or self._listener.done()):
            self._listener = spawn(self._listen())
        if self.layer is not None and self._watch is None:
            self._watch = spawn(self._watch_health())

    @property
    def counts_receivers(self) -> bool:
        """True where a group send says how many processes it reached (the pub/sub layer)."""
        return self.layer is not None and self._publisher is not None

    @property
    def is_ready(self) -> bool:
        """True once this process has heard its own channel (on the in-memory layer: always)."""
        return self.layer is None or (self._ready is not None and self._ready.done())

    async def ready(self, timeout: float | None = None) -> bool:
        """Return once this process hears its own channel (see the module docstring), or
        after `timeout`; True if it does."""
        if self._ready is None:
            self._ready = asyncio.get_running_loop().create_future()
            spawn(self._become_ready(self._ready))
        if not self._ready.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._ready), timeout)
            except TimeoutError:
                return False
        return True

    async def _become_ready(self, ready: asyncio.Future[None]) -> None:
        self.listen()
        while True:
            try:
                await self.echo()
                break
            except Exception as exc:
                self.failed("echo", exc)
                await asyncio.sleep(PROBE_S)
        ready.set_result(None)

    async def echo(self, timeout: float = ECHO_TIMEOUT_S) -> None:
        """Send an echo to this process's channel and wait until the listener hears it;
        raises (TimeoutError, or the layer's error) if it does not come back in time.

        The echo is sent again after ECHO_RESEND_S, then at doubling intervals: the listener's
        SUBSCRIBE and the echo's PUBLISH go out on two connections, so on a fresh layer the
        first echo can reach Redis before the subscription does and be lost unheard."""
        nonce = secrets.token_hex(8)
        heard = self._echoes[nonce] = asyncio.get_running_loop().create_future()
        message = {"type": ECHO, "nonce": nonce}
        wait = ECHO_RESEND_S
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.layer.send(self.channel, message)
                    done, _ = await asyncio.wait([heard], timeout=wait)
                    if done:
                        return
                    wait *= 2
        finally:
            self._echoes.pop(nonce, None)

    def _on_echo(self, message: dict[str, Any]) -> None:
        heard = self._echoes.get(message.get("nonce", ""))
        if heard is not None and not heard.done():
            heard.set_result(None)

    async def _watch_health(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_S)
            if self._failing_since is not None:
                continue  # the recovery probes meanwhile
            try:
                await self.echo()
            except Exception as exc:
                self.failed("echo", exc)

    async def _listen(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failed("receive", exc)
                await asyncio.sleep(1.0)
                continue
            self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        handler = self.handlers.get(message.get("type", ""))
        if handler is None:
            logger.warning("layer: no handler for %r", message.get("type"))
            return
        try:
            handler(message)
        except Exception:
            logger.exception("layer: handling %r failed", message.get("type"))

    def _on_held(self, message: dict[str, Any]) -> None:
        """Broadcasts another process held while the layer failed, sent on in one message."""
        for held in message["messages"]:
            self._dispatch(held)

    # ----- talking to other processes --------------------------------------------------

    async def send_to_process(self, process_id: str, message: dict[str, Any]) -> None:
        await self.send(hub_channel(process_id), message, "send")

    async def send(self, channel: str, message: dict[str, Any], operation: str) -> None:
        """Send to a channel; a full channel or a failing layer is counted and logged."""
        try:
            async with self.slots:
                await self.layer.send(channel, message)
        except ChannelFull:
            metrics.LAYER_DROPS.labels(operation).inc()
            logger.error("layer: channel %s is full; message dropped", channel)
        except Exception as exc:
            self.failed(operation, exc)

    async def group_send_many(self, pairs: Pairs) -> list[int] | None:
        """Send each (group, message), in order: on the pub/sub layer in pipelines, one Redis
        round trip for all (realtime.pipelined), and then returns how many processes each
        reached. While the layer fails they are held for later instead, behind the ones
        already held (and None is returned, as on the core layer)."""
        if self._failing_since is not None:
            self._hold_all(pairs)
            return None
        try:
            receivers = await self._group_send_many(pairs)
        except Exception as exc:
            self._hold_all(pairs)  # what went already is dropped by its receivers
            self.failed("group_send", exc)
            return None
        if self._failing_since is not None:  # sent, but maybe to the Redis that just went
            self._hold_all(pairs)
            return None
        now = time.monotonic()
        self._recent.extend((now, group, message) for group, message in pairs)
        while now - self._recent[0][0] > RESEND_S:
            self._recent.popleft()
        return receivers

    async def _group_send_many(self, pairs: Pairs) -> list[int] | None:
        publisher = self._publisher if self.layer is not None else None
        if publisher is None:  # the core layer: one round trip each
            for group, message in pairs:
                await self._group_send(group, message)
            return None
        async with self.slots:
            return await publisher(pairs)

    def _hold_all(self, pairs: Pairs) -> None:
        for group, message in pairs:
            self._hold(group, message)

    async def _group_send(self, group: str, message: dict[str, Any]) -> None:
        """One group_send; a full channel is counted and logged, other failures raise."""
        try:
            async with self.slots:
                await self.layer.group_send(group, message)
        except ChannelFull:
            metrics.LAYER_DROPS.labels("group_send").inc()
            logger.error("layer: channel full sending to group %s; broadcast dropped", group)

    def _hold(self, group: str, message: dict[str, Any]) -> None:
        self._held.append((group, message))
        self._held_broadcasts += _broadcasts_in(message)
        while self._held_broadcasts > MAX_HELD and len(self._held) > 1:
            _, dropped = self._held.popleft()
            self._held_broadcasts -= _broadcasts_in(dropped)
            metrics.LAYER_DROPS.labels("held").inc()
            if not self._dropped:
                logger.error("layer: %d broadcasts held; dropping the oldest", MAX_HELD)
            self._dropped += 1

    def _held_changed(self) -> None:
        """Count `_held` again after it was changed other than by `_hold` (rare: recovery)."""
        self._held_broadcasts = sum(_broadcasts_in(message) for _, message in self._held)

    async def group_add(self, group: str) -> None:
        """Join a group; raises on failure (the caller decides what a failed join means)."""
        await self.ready()
        async with self.slots:
            await self.layer.group_add(group, self.channel)

    async def group_discard(self, group: str) -> None:
        async with self.slots:
            await self.layer.group_discard(group, self.channel)

    async def request(
        self, process_id: str, message: dict[str, Any], timeout: float
    ) -> dict[str, Any] | None:
        """Send `message` to another process and wait for its reply (None on timeout)."""
        replies = await self.request_all([process_id], message, timeout)
        return replies[0] if replies else None

    async def request_all(
        self,
        process_ids: list[str],
        message: dict[str, Any],
        timeout: float,
        *,
        skip_unanswering: bool = False,
    ) -> list[dict[str, Any]]:
        """Send `message` to each process; the replies that arrive within `timeout` of it.

        Replies come back on this process's own channel, matched by a request id: no channel
        per request (a subscription each on the pub/sub layer). A process that let a request
        time out is "unanswering" until a reply of its own arrives, even a late one; with
        `skip_unanswering` it is asked but not waited for, so a process that died without a
        word (listed alive until its heartbeat ages) costs one timeout, not one per request.
        """
        await self.ready(min(timeout, ECHO_TIMEOUT_S))
        awaited = set(process_ids) - (self._unanswering if skip_unanswering else set())
        with self.replies_to() as replies:
            outgoing = {**message, **replies.address}
            await asyncio.gather(*(self.send_to_process(pid, outgoing) for pid in process_ids))
            await replies.wait(lambda: awaited <= replies.senders, timeout)
        missed = awaited - replies.senders
        if missed:
            self._unanswering |= missed
            logger.warning(
                "layer: no answer to %s from %s within %.1fs",
                message.get("type"),
                ", ".join(sorted(missed)),
                timeout,
            )
        return replies.received

    @contextlib.contextmanager
    def replies_to(self) -> Iterator[Replies]:
        """Replies to a request sent to any number of processes: `replies.address` goes into
        the request's message; they are collected until the block ends."""
        replies = Replies(self.channel)
        self._replies[replies.request_id] = replies
        try:
            yield replies
        finally:
            self._replies.pop(replies.request_id, None)

    def reply(self, request: dict[str, Any], response: dict[str, Any]) -> None:
        """Answer a request (on the asking process's channel). The replies of a loop turn
        leave together: on the pub/sub layer one Redis round trip for all (realtime.pipelined),
        where each used to cost its own."""
        answer = {
            **response,
            "type": REPLY,
            "request_id": request["request_id"],
            "from": self.process_id,
        }
        if request["reply_to"] == self.channel:  # a broadcast of ours, heard back: no hop
            self._on_reply(answer)
            return
        self._answers.append((request["reply_to"], answer))
        if self._answering is None or self._answering.done():
            self._answering = spawn(self._send_answers())

    async def _send_answers(self) -> None:
        while self._answers:
            answers, self._answers = self._answers, []
            publisher = self._answer_publisher
            if publisher is None:  # the core layer: one round trip each
                for channel, answer in answers:
                    await self.send(channel, answer, "reply")
                continue
            try:
                async with self.slots:
                    await publisher(answers)
            except Exception as exc:
                self.failed("reply", exc)

    def _on_reply(self, message: dict[str, Any]) -> None:
        self._unanswering.discard(message.get("from", ""))
        replies = self._replies.get(message.get("request_id", ""))
        if replies is not None:
            replies.add(message)

    # ----- health ----------------------------------------------------------------------

    @property
    def status(self) -> str:
        """`ok`, or `degraded` while the channel layer fails (local sockets still served)."""
        return "degraded" if self._failing_since is not None else "ok"

    def failed(self, operation: str, exc: BaseException) -> None:
        """Count a failed layer operation; the first failure starts the recovery loop."""
        metrics.LAYER_ERRORS.labels(operation).inc()
        if self._failing_since is not None:
            logger.debug("layer: %s failed again: %r", operation, exc)
            return
        self._failing_since = time.monotonic()
        logger.error(
            "layer: %s failed (%r); serving local sockets only until it is back", operation, exc
        )
        since = self._failing_since - RESEND_S
        recent = [(group, message) for sent, group, message in self._recent if sent >= since]
        self._recent.clear()
        self._held.extendleft(reversed(recent))  # before what failed: the order is kept
        self._held_changed()
        self._recovery = spawn(self._recover())

    async def _recover(self) -> None:
        """Probe the layer every PROBE_S; once it answers, rejoin every group of this process,
        give the other processes SETTLE_S to rejoin theirs, send the held broadcasts in order,
        and report healthy again."""
        while True:
            await asyncio.sleep(PROBE_S)
            groups = list(self._groups())
            try:
                await self.echo()  # sent and heard: the subscription works again
                for group in groups:
                    await asyncio.wait_for(self.group_add(group), 2.0)
                if self._held:
                    await asyncio.sleep(SETTLE_S)
                sent = await self._send_held()
            except Exception:
                continue
            outage = time.monotonic() - (self._failing_since or time.monotonic())
            self._failing_since = None  # nothing held: what comes next goes out directly
            logger.warning(
                "layer: back after %.1f s; %d groups rejoined, %d held broadcasts sent"
                " (%d dropped)",
                outage,
                len(groups),
                sent,
                self._dropped,
            )
            self._dropped = 0
            return

    async def _send_held(self) -> int:
        """Send what was held (and what is held meanwhile, until nothing is): each group's
        broadcasts in order, the groups side by side. Raises if the layer fails again, with
        what was not sent held again, in its order."""
        sent = 0
        while self._held:
            by_group: dict[str, list[dict[str, Any]]] = {}
            for group, message in self._held:
                by_group.setdefault(group, []).append(message)
            self._held.clear()
            self._held_changed()
            unsent: list[tuple[str, dict[str, Any]]] = []
            results = await asyncio.gather(
                *(
                    self._send_in_order(group, messages, unsent)
                    for group, messages in by_group.items()
                )
            )
            sent += sum(results)
            if unsent:
                self._held.extendleft(reversed(unsent))
                self._held_changed()
                raise ConnectionError("the channel layer failed again")
        return sent

    async def _send_in_order(
        self, group: str, messages: list[dict[str, Any]], unsent: list[tuple[str, dict[str, Any]]]
    ) -> int:
        """A group's held broadcasts, HELD_BATCH to a layer message; what fails goes to
        `unsent`."""
        for start in range(0, len(messages), HELD_BATCH):
            try:
                await self._group_send(
                    group, {"type": HELD, "messages": messages[start : start + HELD_BATCH]}
                )
            except Exception:
                unsent.extend((group, rest) for rest in messages[start:])
                return start
        return len(messages)


class GroupCapacityWatch(logging.Filter):
    """channels_redis reports a group_send that skipped full channels only as an INFO line:
    count those drops and raise the line to ERROR, so a full channel is never silent."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if "over capacity" in str(record.msg) and isinstance(args, tuple) and args:
            dropped = args[0]
            metrics.LAYER_DROPS.labels("group_send").inc(dropped if isinstance(dropped, int) else 1)
            record.levelno, record.levelname = logging.ERROR, "ERROR"
        return True


logging.getLogger("channels_redis.core").addFilter(GroupCapacityWatch())


def _broadcasts_in(message: dict[str, Any]) -> int:
    """How many broadcasts a layer message carries (one, or a `broadcast_many` message's)."""
    broadcasts = message.get("broadcasts")
    return len(broadcasts) if isinstance(broadcasts, list) else 1


class Replies:
    """The replies to one request, as they arrive (LayerLink.replies_to)."""

    def __init__(self, channel: str) -> None:
        self.request_id = secrets.token_hex(8)
        self.address = {"reply_to": channel, "request_id": self.request_id}
        self.received: list[dict[str, Any]] = []
        self.senders: set[str] = set()
        self._arrived = asyncio.Event()

    def add(self, reply: dict[str, Any]) -> None:
        self.received.append(reply)
        self.senders.add(reply.get("from", ""))
        self._arrived.set()

    async def wait(self, enough: Callable[[], bool], timeout: float) -> bool:
        """Wait until `enough()` or `timeout`; True if it was enough."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not enough():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return enough()
        return True

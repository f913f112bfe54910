"""The handlers the official protocol suites expect (see shared/conformance/README.md).

`/socket.io/`: namespace `/` echoes `message` as `message-back`, acks `message-with-ack` with
its own arguments, and emits `auth` with the CONNECT payload right after connecting; `/custom`
emits `auth` too. `/engine.io/`: a bare Engine.IO server echoing every message.
"""

from typing import Any

from realtime.engineio.session import Session
from realtime.namespace import NamespaceConsumer
from realtime.routing import NamespaceRouter, namespace


class AuthEchoConsumer(NamespaceConsumer):
    async def on_connect(self, auth: dict[str, Any]) -> None:
        await self.emit("auth", auth)


class MainConsumer(AuthEchoConsumer):
    async def on_message(self, *args: Any) -> None:
        await self.emit("message-back", *args)

    async def on_message_with_ack(self, *args: Any) -> tuple[Any, ...]:
        return args


router = NamespaceRouter([namespace("/", MainConsumer), namespace("/custom", AuthEchoConsumer)])


class EchoHandler:
    """Engine.IO only: every message goes back as it came, text as text, binary as binary."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def on_message(self, data: str | bytes) -> None:
        self.session.send(data if isinstance(data, bytes) else "4" + data)

    def on_close(self, reason: str) -> None:
        pass

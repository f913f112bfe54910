"""The bench's reference workload (bench/README.md), mounted only by `config.settings.bench`.

`/v1/conversation`: CONNECT `auth: {token}` where the token is the user id itself (bench mode
only, no JWT); the socket joins `user:<id>`; `join {room}` acks `{ok: true}`; `message {room,
text, sentAt, seq}` goes to the whole room, sender included. The REST emit
(`POST /emit/<userId>/<event>?namespace=conversation`) reaches the same `user:<id>` rooms.
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from realtime.identity import UserIdentity
from realtime.namespace import ConnectionRefused, NamespaceConsumer
from realtime.routing import NamespaceRouter, namespace

if not getattr(settings, "BENCH_MODE", False):
    raise ImproperlyConfigured(
        "config.bench trusts any token as a user id: it loads only with "
        "DJANGO_SETTINGS_MODULE=config.settings.bench"
    )

MAX_ID_LENGTH = 128


def bench_identity(auth: Any) -> UserIdentity:
    """The token is the uid (bench only); a CONNECT without one is refused like the product's."""
    token = auth.get("token") if isinstance(auth, dict) else None
    if not isinstance(token, str | int) or isinstance(token, bool) or token == "":
        raise ConnectionRefused("NOT_AUTHENTICATED", {"errno": 401})
    uid = str(token)
    if len(uid) > MAX_ID_LENGTH:
        raise ConnectionRefused("NOT_AUTHENTICATED", {"errno": 401})
    return UserIdentity(uid=uid)


class BenchConsumer(NamespaceConsumer):
    """The reference workload, the same in every server of bench/reference/."""

    async def on_connect(self, auth: dict[str, Any]) -> None:
        self.identity = bench_identity(auth)
        for room in self.identity.rooms:
            await self.join(room)

    async def on_join(self, payload: Any = None, *_: Any) -> dict[str, Any]:
        room = payload.get("room") if isinstance(payload, dict) else None
        if not isinstance(room, str) or not room or len(room) > MAX_ID_LENGTH:
            return {"ok": False}
        await self.join(room)
        return {"ok": True}

    async def on_message(self, payload: Any = None, *_: Any) -> None:
        room = payload.get("room") if isinstance(payload, dict) else None
        if isinstance(room, str) and room:
            await self.emit("message", payload, to=room)


router = NamespaceRouter([namespace("/v1/conversation", BenchConsumer)])

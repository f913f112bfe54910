"""Test-only namespaces that exercise the adapter end to end (see `settings_adapter`).

`/test` and `/other` take any CONNECT (auth `{"refuse": why}` is refused), `/private` only
auth `{"token": "letmein"}`, and `/dyn-<name>` is a pattern route. Events a test client sends:

| event | does | ack |
|---|---|---|
| `echo`, *args | nothing | the args, binary included |
| `echo_event`, *args | emits `echoed`, *args back | none |
| `whoami` | | `{sid, namespace, rooms, auth, kwargs}` |
| `join` / `leave`, room | joins / leaves | the rooms, sorted |
| `say`, `{to, data, include_self?, exclude?}` | emits `said {from, data}` to rooms | `"ok"` |
| `ask`, `{args, timeout?}` | `call("question", *args)` on the client | `{answer}` or `{timeout}` |
| `broadcast`, `{data, to?}` | `realtime.emit.emit("news", data)` | `{local: N}` |
| `direct`, `{sid, data}` | `realtime.emit.emit_to_sid("direct", data)` | `{local: bool}` |
| `kick` | server-side namespace disconnect | none |

On disconnect a socket emits `left {sid, reason}` to the rooms it was in.
"""

from __future__ import annotations

from typing import Any

from realtime.emit import emit, emit_to_sid
from realtime.namespace import AckTimeout, ConnectionRefused, NamespaceConsumer
from realtime.routing import NamespaceRouter, namespace, re_namespace

PRIVATE_TOKEN = "letmein"


class EchoConsumer(NamespaceConsumer):
    """Every adapter feature a namespace can use, driven by the client's events."""

    auth: dict[str, Any]

    async def on_connect(self, auth: dict[str, Any]) -> None:
        if auth.get("refuse"):
            raise ConnectionRefused("REFUSED", {"errno": 403, "why": auth["refuse"]})
        self.auth = auth
        # sent before the CONNECT ack is out: the adapter holds it until then
        await self.emit("welcome", {"sid": self.sid, "namespace": self.namespace, "auth": auth})

    async def on_disconnect(self, reason: str) -> None:
        if self.rooms:
            await self.emit("left", {"sid": self.sid, "reason": reason}, to=sorted(self.rooms))

    async def on_echo(self, *args: Any) -> tuple[Any, ...]:
        return args

    async def on_fail(self, *args: Any) -> None:
        """A handler that raises: the adapter logs it and sends no ack."""
        raise RuntimeError("handler failed on purpose")

    async def on_echo_event(self, *args: Any) -> None:
        await self.emit("echoed", *args)

    async def on_whoami(self) -> dict[str, Any]:
        return {
            "sid": self.sid,
            "namespace": self.namespace,
            "rooms": sorted(self.rooms),
            "auth": self.auth,
            "kwargs": self.namespace_kwargs,
        }

    async def on_join(self, room: str) -> list[str]:
        await self.join(room)
        return sorted(self.rooms)

    async def on_leave(self, room: str) -> list[str]:
        await self.leave(room)
        return sorted(self.rooms)

    async def on_say(self, request: dict[str, Any]) -> str:
        await self.emit(
            "said",
            {"from": self.sid, "data": request.get("data")},
            to=request["to"],
            include_self=request.get("include_self", True),
            exclude=request.get("exclude", ()),
        )
        return "ok"

    async def on_ask(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            answer = await self.call("question", *request["args"], timeout=request.get("timeout"))
        except AckTimeout:
            return {"timeout": True}
        return {"answer": answer}

    async def on_broadcast(self, request: dict[str, Any]) -> dict[str, Any]:
        local = await emit("news", request["data"], namespace=self.namespace, to=request.get("to"))
        return {"local": local}

    async def on_direct(self, request: dict[str, Any]) -> dict[str, Any]:
        local = await emit_to_sid(
            "direct", request["data"], sid=request["sid"], namespace=self.namespace
        )
        return {"local": local}

    async def on_kick(self) -> None:
        await self.disconnect()


class PrivateConsumer(EchoConsumer):
    """Refuses a CONNECT without the right token, like an authenticated namespace."""

    async def on_connect(self, auth: dict[str, Any]) -> None:
        if auth.get("token") != PRIVATE_TOKEN:
            raise ConnectionRefused("NOT_AUTHENTICATED", {"errno": 401})
        await super().on_connect(auth)


router = NamespaceRouter(
    [
        namespace("/test", EchoConsumer),
        namespace("/other", EchoConsumer),
        namespace("/private", PrivateConsumer),
        re_namespace(r"/dyn-(?P<name>[a-z]+)", EchoConsumer),
    ]
)

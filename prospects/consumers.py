"""Prospect events on the conversation namespaces: staff handlers, and the live-chat visitor.

Mixed into `conversations.consumers`' consumers, ahead of them; like theirs, each handler
validates its payload, calls one service or selector off the event loop and acks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from channels.db import database_sync_to_async

from conversations import serializers as s
from conversations.typing import TypingTracker
from realtime.envelope import Forbidden, success
from realtime.identity import VisitorIdentity

from . import communications, selectors, services, visitors
from . import events as prospect_events
from . import serializers as p

T = TypeVar("T")
Envelope = dict[str, Any]

# the only events a visitor reaches; every other one is FORBIDDEN
VISITOR_HANDLERS = ("on_join", "on_message", "on_typing", "on_read")


async def run(function: Callable[..., T], **kwargs: Any) -> T:
    """A sync service or selector, in Django's database thread."""
    return await database_sync_to_async(function)(**kwargs)


class ProspectEventsMixin:
    """The thirteen `prospect_*` events of contract §5, and `prospect_message`, for staff.

    `prospect_message {cid, data, client_msg_id?}` is how staff send: an OUTGOING
    communication, acked `{message}` once stored; `prospect_message` then goes to every
    participant (`is_sender` true for the sender's sockets) and to the conversation's visitors.
    Server events beyond the contract's two have their own names, so the team's are
    untouched: `prospect_update_conversation`, `prospect_counter {cid, unread_count,
    total_unread}` (over prospect conversations only), `prospect_read`, `prospect_note`,
    `prospect_typing`.
    """

    actor: Callable[[], dict[str, str]]  # the host consumer's: uid and account_id, or FORBIDDEN

    async def on_prospect_add_conversation(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(p.AddConversationPayload, payload)
        await run(services.conversation_create, **self.actor(), **data)
        return success()  # the conversation itself comes as `prospect_add_conversation`

    async def on_prospect_list_conversation(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(s.ListConversationPayload, payload)
        filters = data.pop("filter", None) or {}
        return success(await run(selectors.conversation_list, **self.actor(), **data, **filters))

    async def on_prospect_get_conversation_by_id(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(s.GetConversationPayload, payload)
        conversation = await run(selectors.conversation_get, **self.actor(), **data)
        return success({"conversation": conversation})

    async def on_prospect_list_message(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(s.ListMessagePayload, payload)
        return success(await run(selectors.communication_page, **self.actor(), **data))

    async def on_prospect_list_message_by_id(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(s.ListMessageByIdPayload, payload)
        return success(await run(selectors.communication_around, **self.actor(), **data))

    async def on_prospect_add_participant(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(s.AddParticipantPayload, payload)
        conversation = await run(services.conversation_add_participants, **self.actor(), **data)
        return success({"conversation": conversation})

    async def on_prospect_edit_conversation(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(s.EditConversationPayload, payload)
        conversation = await run(services.conversation_edit, **self.actor(), **data)
        return success({"conversation": conversation})

    async def on_prospect_open(self, payload: Any = None, *_: Any) -> Envelope:
        return await self._prospect_state("open", s.StatePayload, payload)

    async def on_prospect_snooze(self, payload: Any = None, *_: Any) -> Envelope:
        return await self._prospect_state("snooze", s.SnoozePayload, payload)

    async def on_prospect_archive(self, payload: Any = None, *_: Any) -> Envelope:
        return await self._prospect_state("archive", s.StatePayload, payload)

    async def on_prospect_show_on_top(self, payload: Any = None, *_: Any) -> Envelope:
        return await self._prospect_state("show_on_top", s.StatePayload, payload)

    async def _prospect_state(self, action: str, serializer: type, payload: Any) -> Envelope:
        data = s.validated(serializer, payload)
        conversation = await run(
            services.participant_state_set, **self.actor(), action=action, **data
        )
        return success({"conversation": conversation})

    async def on_prospect_read(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(s.ReadPayload, payload)
        return success(await run(services.conversation_read, **self.actor(), **data))

    async def on_prospect_add_note(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(p.NotePayload, payload)
        return success({"note": await run(services.note_add, **self.actor(), **data)})

    async def on_prospect_message(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(p.CommunicationPayload, payload)
        message, _created = await run(communications.communication_send, **self.actor(), **data)
        return success({"message": message})


if TYPE_CHECKING:  # what the mixin is mixed into, for the type checker only
    from conversations.consumers import ConversationConsumer as _LiveBase
else:
    _LiveBase = object


class LiveVisitorMixin(_LiveBase):
    """A live-chat visitor on `/v1/conversation/live` (contract §2): `join`, `message`,
    `typing` and `read` in its own conversation, the one its token names; every other event,
    known or not, is FORBIDDEN. Users keep the team's handlers of those four events.

    - `join {cid?}` → `{visitor_id, conversation, messages, paging}`; from then on staff
      replies (`prospect_message`) reach the visitor's `visitor:{id}` room;
    - `message {cid, content, attachments?, client_msg_id?}` → `{message}`: an INCOMING
      communication; participants get `prospect_message` and `prospect_counter`;
    - `typing {cid, is_typing}` → participants get `prospect_typing`, expiring by itself;
    - `read {cid, message_id?}` → `{cid, unread_count: 0}`; participants get `prospect_read`.
    """

    async def on_connect(self, auth: dict[str, Any]) -> None:
        await super().on_connect(auth)
        if isinstance(self.identity, VisitorIdentity):
            # this socket's own table, over the class's: a visitor has four events
            self.handlers = {name: name for name in VISITOR_HANDLERS}  # type: ignore[misc]
            self.typing = TypingTracker(
                self.identity.uid, broadcast=prospect_events.typing_broadcast
            )

    def visitor(self) -> VisitorIdentity | None:
        return self.identity if isinstance(self.identity, VisitorIdentity) else None

    def visitor_scope(self, visitor: VisitorIdentity) -> dict[str, str]:
        return {"account_id": visitor.account_id, "conversation_id": visitor.conversation_id}

    async def on_event(self, event: str, *args: Any) -> Any:
        if self.visitor() is not None:
            return Forbidden("visitors may only join, message, type and read").envelope()
        return await super().on_event(event, *args)

    async def on_join(self, payload: Any = None, *_: Any) -> Envelope:
        visitor = self.visitor()
        if visitor is None:
            return await super().on_join(payload)
        data = s.validated(p.VisitorJoinPayload, payload)
        scope = self.visitor_scope(visitor)
        joined = await run(visitors.visitor_join, visitor_id=visitor.visitor_id, **scope, **data)
        return success(joined)

    async def on_message(self, payload: Any = None, *_: Any) -> Envelope:
        visitor = self.visitor()
        if visitor is None:
            return await super().on_message(payload)
        data = s.validated(s.MessagePayload, payload)
        scope = self.visitor_scope(visitor)
        message, _created = await run(
            visitors.visitor_message, visitor_id=visitor.visitor_id, **scope, **data
        )
        return success({"message": message})

    async def on_typing(self, payload: Any = None, *_: Any) -> Envelope:
        visitor = self.visitor()
        if visitor is None:
            return await super().on_typing(payload)
        data = s.validated(s.TypingPayload, payload)
        recipients = await run(
            visitors.visitor_typing_recipients, **self.visitor_scope(visitor), cid=data["cid"]
        )
        await self.typing.set(cid=data["cid"], recipients=recipients, is_typing=data["is_typing"])
        return success()

    async def on_read(self, payload: Any = None, *_: Any) -> Envelope:
        visitor = self.visitor()
        if visitor is None:
            return await super().on_read(payload)
        data = s.validated(s.ReadPayload, payload)
        scope = self.visitor_scope(visitor)
        return success(
            await run(visitors.visitor_read, visitor_id=visitor.visitor_id, **scope, **data)
        )

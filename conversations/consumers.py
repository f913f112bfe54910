"""Socket consumers of `/v1/conversation` and `/v1/conversation/live`: team conversations.

Each handler validates its payload, calls one service or selector off the event loop and acks
the envelope; the services check that the user takes part in the conversation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from channels.db import database_sync_to_async

from prospects.consumers import LiveVisitorMixin, ProspectEventsMixin
from realtime.api import ApiConsumer
from realtime.envelope import Forbidden, success
from realtime.identity import UserIdentity
from realtime.permissions import HasScope, IsAuthenticated, IsVisitor

from . import selectors, services
from . import serializers as s
from .presence import status_set
from .typing import TypingTracker

T = TypeVar("T")
Envelope = dict[str, Any]


async def run(function: Callable[..., T], **kwargs: Any) -> T:
    """A sync service or selector, in Django's database thread."""
    return await database_sync_to_async(function)(**kwargs)


class ConversationConsumer(ProspectEventsMixin, ApiConsumer):
    """`/v1/conversation`: platform users with the `conversation` scope; team conversations
    here, prospect conversations (`prospect_*`) from the mixin."""

    permission_classes = [IsAuthenticated, HasScope("conversation")]
    typing: TypingTracker

    async def on_connect(self, auth: dict[str, Any]) -> None:
        # the base has joined `user:{uid}` and `account:{id}` and registers the socket
        assert self.identity is not None  # the permissions let no anonymous socket in
        self.typing = TypingTracker(self.identity.uid)

    async def on_disconnect(self, reason: str) -> None:
        await self.typing.stop_all()

    def user(self) -> UserIdentity:
        if not isinstance(self.identity, UserIdentity):
            raise Forbidden("team conversations are for platform users")
        return self.identity

    def actor(self) -> dict[str, str]:
        """Who acts, for the services: a platform user, within their account (never across)."""
        user = self.user()
        if not user.account_id:
            raise Forbidden("conversations need a token with an account_id")
        return {"uid": user.uid, "account_id": user.account_id}

    # ----- presence ---------------------------------------------------------------------

    async def on_join(self, payload: Any = None, *_: Any) -> Envelope:
        s.validated(s.JoinPayload, payload)
        user = self.user()
        await status_set(uid=user.uid, account_id=user.account_id, status="active")
        return success({"user_id": user.uid, "status": "active"})

    async def on_active_status(self, payload: Any = None, *_: Any) -> Envelope:
        status = s.validated(s.ActiveStatusPayload, payload)["status"]
        user = self.user()
        await status_set(uid=user.uid, account_id=user.account_id, status=status)
        return success({"status": status})

    # ----- conversations ----------------------------------------------------------------

    async def on_add_conversation(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(s.AddConversationPayload, payload)
        conversation = await run(services.conversation_create, **self.actor(), **data)
        return success({"conversation": conversation})

    async def on_list_conversation(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(s.ListConversationPayload, payload)
        filters = data.pop("filter", None) or {}
        return success(await run(selectors.conversation_list, **self.actor(), **data, **filters))

    on_conversation_filter = on_list_conversation

    async def on_get_conversation_by_id(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(s.GetConversationPayload, payload)
        conversation = await run(selectors.conversation_get, **self.actor(), **data)
        return success({"conversation": conversation})

    async def on_channel(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(s.ChannelPayload, payload)
        return success(await run(selectors.channel_overview, **self.actor(), **data))

    async def on_add_participant(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(s.AddParticipantPayload, payload)
        conversation = await run(services.conversation_add_participants, **self.actor(), **data)
        return success({"conversation": conversation})

    async def on_edit_conversation(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(s.EditConversationPayload, payload)
        conversation = await run(services.conversation_edit, **self.actor(), **data)
        return success({"conversation": conversation})

    # ----- the user's own state of a conversation ---------------------------------------

    async def on_open(self, payload: Any = None, *_: Any) -> Envelope:
        return await self._state("open", s.StatePayload, payload)

    async def on_snooze(self, payload: Any = None, *_: Any) -> Envelope:
        return await self._state("snooze", s.SnoozePayload, payload)

    async def on_archive(self, payload: Any = None, *_: Any) -> Envelope:
        return await self._state("archive", s.StatePayload, payload)

    async def on_show_on_top(self, payload: Any = None, *_: Any) -> Envelope:
        return await self._state("show_on_top", s.StatePayload, payload)

    async def _state(self, action: str, serializer: type, payload: Any) -> Envelope:
        data = s.validated(serializer, payload)
        conversation = await run(
            services.participant_state_set, **self.actor(), action=action, **data
        )
        return success({"conversation": conversation})

    async def on_read(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(s.ReadPayload, payload)
        return success(await run(services.conversation_read, **self.actor(), **data))

    # ----- messages ---------------------------------------------------------------------

    async def on_list_message(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(s.ListMessagePayload, payload)
        return success(await run(selectors.message_page, **self.actor(), **data))

    async def on_list_message_by_id(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(s.ListMessageByIdPayload, payload)
        return success(await run(selectors.message_around, **self.actor(), **data))

    async def on_message(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(s.MessagePayload, payload)
        message, _created = await services.message_submit(**self.actor(), **data)
        return success({"message": message})

    async def on_typing(self, payload: Any = None, *_: Any) -> Envelope:
        data = s.validated(s.TypingPayload, payload)
        recipients = await run(selectors.member_other_uids, **self.actor(), cid=data["cid"])
        await self.typing.set(cid=data["cid"], recipients=recipients, is_typing=data["is_typing"])
        return success()


class LiveConversationConsumer(LiveVisitorMixin, ConversationConsumer):
    """`/v1/conversation/live`: the same users, and live-chat visitors (see the mixin)."""

    permission_classes = [IsAuthenticated, HasScope("conversation") | IsVisitor]

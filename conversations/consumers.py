"""Socket consumers of `/v1/conversation` and `/v1/conversation/live` (placeholders for now)."""

from __future__ import annotations

from typing import Any

from realtime.api import ApiConsumer
from realtime.envelope import success
from realtime.permissions import HasScope, IsAuthenticated, IsVisitor


class ConversationConsumer(ApiConsumer):
    """`/v1/conversation`: platform users with the `conversation` scope."""

    permission_classes = [IsAuthenticated, HasScope("conversation")]

    async def on_join(self, payload: Any = None) -> dict[str, Any]:
        return success()


class LiveConversationConsumer(ConversationConsumer):
    """`/v1/conversation/live`: the same users, and live-chat visitors."""

    permission_classes = [IsAuthenticated, HasScope("conversation") | IsVisitor]

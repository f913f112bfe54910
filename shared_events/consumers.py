"""Socket consumer of `/v1/shared` (a placeholder for now)."""

from __future__ import annotations

from typing import Any

from realtime.api import ApiConsumer
from realtime.envelope import success
from realtime.permissions import HasScope, IsAuthenticated


class SharedConsumer(ApiConsumer):
    """`/v1/shared`: platform users with the `conversation` scope (contract §2)."""

    permission_classes = [IsAuthenticated, HasScope("conversation")]

    async def on_join(self, payload: Any = None) -> dict[str, Any]:
        return success()

"""Socket consumer of `/v1/lead-finder` (a placeholder for now)."""

from __future__ import annotations

from typing import Any

from realtime.api import ApiConsumer
from realtime.envelope import success


class LeadFinderConsumer(ApiConsumer):
    """`/v1/lead-finder`: open to anyone; no token is looked at (contract §6)."""

    permission_classes = []

    async def on_join(self, payload: Any = None) -> dict[str, Any]:
        return success()

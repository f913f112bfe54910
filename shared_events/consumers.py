"""Socket consumer of `/v1/shared`: where REST emits land by default, and device registration."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from realtime.api import ApiConsumer
from realtime.envelope import ValidationFailed, success
from realtime.permissions import HasScope, IsAuthenticated

from . import services
from .serializers import RegisterDeviceSerializer, UnregisterDeviceSerializer


def validated(serializer_class: type, payload: Any) -> dict[str, Any]:
    serializer = serializer_class(data=payload if isinstance(payload, dict) else {})
    if not serializer.is_valid():
        errors = {field: [str(m) for m in msgs] for field, msgs in serializer.errors.items()}
        raise ValidationFailed(errors=errors)
    return serializer.validated_data


class SharedConsumer(ApiConsumer):
    """`/v1/shared`: platform users with the `conversation` scope (contract §2, §7).

    The socket is in `user:{uid}` and `account:{account_id}` from its connect on.
    """

    permission_classes = [IsAuthenticated, HasScope("conversation")]

    async def on_join(self, payload: Any = None) -> dict[str, Any]:
        return success()

    async def on_register_device(self, payload: Any = None) -> dict[str, Any]:
        """`register_device {token, platform}`: this user's device gets pushes when offline."""
        data = validated(RegisterDeviceSerializer, payload)
        await database_sync_to_async(services.device_register)(
            uid=self.authenticated_identity.uid,
            account_id=self.authenticated_identity.account_id,
            token=data["token"],
            platform=data["platform"],
        )
        return success({"token": data["token"], "platform": data["platform"]})

    async def on_unregister_device(self, payload: Any = None) -> dict[str, Any]:
        data = validated(UnregisterDeviceSerializer, payload)
        removed = await database_sync_to_async(services.device_unregister)(
            uid=self.authenticated_identity.uid, token=data["token"]
        )
        return success({"removed": removed})

"""Reads for the adapter's own models (sync ORM code, with async wrappers for consumers)."""

from channels.db import database_sync_to_async
from django.utils import timezone

from .models import ApiSession


def api_session_token(*, session_id: str) -> str | None:
    """The JWT stored for a session that exists and has not expired."""
    return (
        ApiSession.objects.filter(session_id=session_id)
        .exclude(expires_at__lte=timezone.now())
        .values_list("token", flat=True)
        .first()
    )


api_session_token_async = database_sync_to_async(api_session_token)

"""Reads for the adapter's own models (sync ORM code, with async wrappers for consumers)."""

from typing import Any

from channels.db import database_sync_to_async
from django.db.models import QuerySet
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

IN_BATCH = 500  # values per `uid IN (...)`: well under every database's parameter limit


def uids_among(rows: QuerySet[Any], uids: list[str]) -> set[str]:
    """Those of `uids` found in the `uid` column of `rows`, in a query per IN_BATCH."""
    found: set[str] = set()
    for start in range(0, len(uids), IN_BATCH):
        batch = rows.filter(uid__in=uids[start : start + IN_BATCH])
        found.update(uid for uid in batch.values_list("uid", flat=True).distinct() if uid)
    return found

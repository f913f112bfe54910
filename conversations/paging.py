"""Pages of a conversation's messages: before a cursor, centred on an id, the last few of each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import models
from django.db.models import F, QuerySet, Window
from django.db.models.functions import RowNumber

from realtime.envelope import NotFound

from .wire import str_or_none

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True, slots=True)
class Page(Generic[M]):
    """Rows, oldest first, and the `paging` object clients get with them."""

    rows: list[M]
    paging: dict[str, Any]


def page_before(rows: QuerySet[M], *, before: int | None, limit: int) -> Page[M]:
    """The `limit` rows older than `before` (the newest without it), with the next cursor."""
    if before is not None:
        rows = rows.filter(id__lt=before)
    newest_first = list(rows.order_by("-id")[: limit + 1])
    has_more = len(newest_first) > limit
    page = newest_first[:limit][::-1]
    paging = {
        "limit": limit,
        "before": str_or_none(before),
        "has_more": has_more,
        "next_before": str(page[0].pk) if has_more else None,
    }
    return Page(page, paging)


def page_around(rows: QuerySet[M], *, message_id: int, limit: int) -> Page[M]:
    """Up to `limit` rows centred on `message_id` (included); NOT_FOUND unless it is in `rows`."""
    if not rows.filter(pk=message_id).exists():
        raise NotFound("no such message in this conversation")
    older_count = (limit - 1) // 2
    newer_count = limit - older_count
    older = list(rows.filter(id__lt=message_id).order_by("-id")[: older_count + 1])
    newer = list(rows.filter(id__gte=message_id).order_by("id")[: newer_count + 1])
    paging = {
        "limit": limit,
        "message_id": str(message_id),
        "has_before": len(older) > older_count,
        "has_after": len(newer) > newer_count,
    }
    return Page(older[:older_count][::-1] + newer[:newer_count], paging)


def last_of_each(rows: QuerySet[M], *, cid_field: str, id_field: str, count: int) -> QuerySet[Any]:
    """Each conversation's last `count` of `rows`, oldest first, in one query."""
    rank = Window(RowNumber(), partition_by=[F(cid_field)], order_by=F(id_field).desc())
    return rows.annotate(rank=rank).filter(rank__lte=count).order_by(cid_field, id_field)

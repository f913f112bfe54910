"""Reads of the lead-finder jobs (sync ORM code, with async wrappers for consumers)."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from .models import ScraperJob


def scraper_job_last_event(*, job_id: str) -> tuple[str, dict[str, Any]] | None:
    """The job's last status event and its payload, or None for an unknown job."""
    row = ScraperJob.objects.filter(job_id=job_id).values_list("last_event", "last_payload").first()
    if row is None or not row[0]:
        return None
    return row[0], row[1]


scraper_job_last_event_async = database_sync_to_async(scraper_job_last_event)

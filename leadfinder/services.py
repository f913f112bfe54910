"""Lead-finder work: record each (validated) scraper event on its job, relay it to the room."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from realtime.emit import emit, emit_counted

from . import events
from .models import JobStatus, ScraperJob

ACTIVE = (JobStatus.STARTED, JobStatus.RUNNING)


# ----- the record (sync, ORM) ----------------------------------------------------------


def scraper_event_record(
    *, event: str, payload: dict[str, Any], now: dt.datetime | None = None
) -> ScraperJob:
    """Apply one scraper event to its job (created on first sight) and return the job.

    A status event becomes the job's last event, whatever came before: the stored status is
    always what watchers heard last. A lead only adds to the job's lead count.
    """
    now = now or timezone.now()
    with transaction.atomic():
        job, _ = ScraperJob.objects.select_for_update().get_or_create(
            job_id=payload["job_id"],
            defaults={"started_at": now, "updated_at": now, "status": JobStatus.RUNNING},
        )
        _APPLY[event](job, payload, now)
        if event in events.STATUS_EVENTS:
            job.last_event, job.last_payload = event, payload
        job.updated_at = now
        job.save()
    return job


def _started(job: ScraperJob, payload: dict[str, Any], now: dt.datetime) -> None:
    """A (re)start: the job begins afresh."""
    job.status = JobStatus.STARTED
    job.query = payload["query"]
    job.location = payload.get("location") or ""
    job.total = payload.get("total_expected") or 0
    job.processed = job.found = job.leads = 0
    job.percent = 0.0
    job.error = ""
    job.started_at, job.finished_at = now, None


def _progress(job: ScraperJob, payload: dict[str, Any], now: dt.datetime) -> None:
    job.status = JobStatus.RUNNING
    job.processed, job.total = payload["processed"], payload["total"]
    job.found, job.percent = payload["found"], payload["percent"]
    job.error, job.finished_at = "", None


def _lead(job: ScraperJob, payload: dict[str, Any], now: dt.datetime) -> None:
    job.leads += 1


def _completed(job: ScraperJob, payload: dict[str, Any], now: dt.datetime) -> None:
    job.status = JobStatus.COMPLETED
    job.found, job.percent = payload["found"], 100.0
    job.error, job.finished_at = "", now


def _failed(job: ScraperJob, payload: dict[str, Any], now: dt.datetime) -> None:
    job.status = JobStatus.FAILED
    job.error, job.finished_at = payload["error"], now


_APPLY: dict[str, Callable[[ScraperJob, dict[str, Any], dt.datetime], None]] = {
    events.STARTED: _started,
    events.PROGRESS: _progress,
    events.LEAD: _lead,
    events.COMPLETED: _completed,
    events.FAILED: _failed,
}


def scraper_job_abandon(*, job_id: str, now: dt.datetime | None = None) -> dict[str, Any] | None:
    """Its scraper is gone: fail the job if it is still started or running.

    Returns the `scraper_failed` payload to send, or None when the job had already finished
    (e.g. completed through the REST relay meanwhile). One conditional UPDATE, so two
    processes never both fail the same job.
    """
    now = now or timezone.now()
    payload = {"job_id": job_id, "error": events.SCRAPER_DISCONNECTED}
    failed = ScraperJob.objects.filter(job_id=job_id, status__in=ACTIVE).update(
        status=JobStatus.FAILED,
        error=events.SCRAPER_DISCONNECTED,
        last_event=events.FAILED,
        last_payload=payload,
        finished_at=now,
        updated_at=now,
    )
    return payload if failed else None


scraper_event_record_async = database_sync_to_async(scraper_event_record)
scraper_job_abandon_async = database_sync_to_async(scraper_job_abandon)


# ----- record, then relay (async) ------------------------------------------------------
# The ORM runs through `database_sync_to_async` and has committed before the emit, so a
# watcher never hears of a status that was not stored.


async def scraper_event_broadcast(*, event: str, payload: dict[str, Any], sender_sid: str) -> None:
    """From a scraper socket: record the event, then send it to the job's room on every
    process, the sender left out."""
    await scraper_event_record_async(event=event, payload=payload)
    room = events.job_room(payload["job_id"])
    await emit(event, payload, namespace=events.NAMESPACE, to=room, exclude_sids=[sender_sid])


async def scraper_event_relay(*, event: str, payload: dict[str, Any]) -> int:
    """From the REST API: record the event, send it to the job's room; returns how many
    sockets it reached across every live instance."""
    await scraper_event_record_async(event=event, payload=payload)
    room = events.job_room(payload["job_id"])
    return await emit_counted(event, payload, namespace=events.NAMESPACE, to=room)


async def scraper_disconnected(*, job_ids: Iterable[str]) -> list[str]:
    """A scraper socket dropped: each of its jobs still running fails with
    SCRAPER_DISCONNECTED, told to the job's room. Returns the jobs failed."""
    failed = []
    for job_id in job_ids:
        payload = await scraper_job_abandon_async(job_id=job_id)
        if payload is not None:
            failed.append(job_id)
            room = events.job_room(job_id)
            await emit(events.FAILED, payload, namespace=events.NAMESPACE, to=room)
    return failed

"""Lead-finder services: a job's stored status follows its events; a lost scraper fails it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from leadfinder import services
from leadfinder.models import JobStatus, ScraperJob
from leadfinder.selectors import scraper_job_last_event

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
STARTED = {"job_id": "j1", "query": "plumbers", "location": "Berlin", "total_expected": 40}
PROGRESS = {"job_id": "j1", "processed": 10, "total": 40, "found": 4, "percent": 25.0}
LEAD = {"job_id": "j1", "lead": {"name": "Acme"}}
COMPLETED = {"job_id": "j1", "found": 9, "duration_ms": 5000}


def record(event: str, payload: dict[str, Any], minutes: int = 0) -> ScraperJob:
    now = T0 + dt.timedelta(minutes=minutes)
    return services.scraper_event_record(event=event, payload=payload, now=now)


def test_a_run_from_start_to_completion(db) -> None:
    job = record("scraper_started", STARTED)
    assert (job.status, job.query, job.location, job.total) == ("started", "plumbers", "Berlin", 40)
    record("scraper_progress", PROGRESS, 1)
    record("scraper_lead", LEAD, 2)
    record("scraper_lead", LEAD, 3)
    job = ScraperJob.objects.get(job_id="j1")
    assert (job.status, job.processed, job.found, job.percent, job.leads) == (
        JobStatus.RUNNING,
        10,
        4,
        25.0,
        2,
    )
    # a lead is counted, not stored, and is not a status: the last event stays the progress
    assert scraper_job_last_event(job_id="j1") == ("scraper_progress", PROGRESS)
    record("scraper_completed", COMPLETED, 4)
    job.refresh_from_db()
    assert (job.status, job.found, job.percent, job.leads) == ("completed", 9, 100.0, 2)
    assert (job.started_at, job.updated_at, job.finished_at) == (
        T0,
        T0 + dt.timedelta(minutes=4),
        T0 + dt.timedelta(minutes=4),
    )
    assert scraper_job_last_event(job_id="j1") == ("scraper_completed", COMPLETED)


def test_a_failure_keeps_its_error_and_a_restart_begins_afresh(db) -> None:
    record("scraper_started", STARTED)
    record("scraper_lead", LEAD, 1)
    job = record("scraper_failed", {"job_id": "j1", "error": "captcha"}, 2)
    assert (job.status, job.error, job.finished_at) == (
        "failed",
        "captcha",
        T0 + dt.timedelta(minutes=2),
    )
    job = record("scraper_started", {"job_id": "j1", "query": "roofers"}, 3)
    assert (job.status, job.query, job.location, job.leads, job.error, job.finished_at) == (
        "started",
        "roofers",
        "",
        0,
        "",
        None,
    )
    assert job.started_at == T0 + dt.timedelta(minutes=3)


def test_events_for_an_unknown_job_create_it_running(db) -> None:
    job = record("scraper_progress", {**PROGRESS, "job_id": "late"})
    assert (job.job_id, job.status, job.processed) == ("late", "running", 10)
    assert scraper_job_last_event(job_id="nobody") is None


def test_a_job_with_only_leads_has_no_status_to_replay(db) -> None:
    record("scraper_lead", {**LEAD, "job_id": "j2"})
    assert ScraperJob.objects.get(job_id="j2").leads == 1
    assert scraper_job_last_event(job_id="j2") is None


def test_abandon_fails_a_running_job_once(db) -> None:
    record("scraper_started", STARTED)
    record("scraper_progress", PROGRESS, 1)
    failed = {"job_id": "j1", "error": "SCRAPER_DISCONNECTED"}
    assert services.scraper_job_abandon(job_id="j1", now=T0 + dt.timedelta(minutes=2)) == failed
    assert services.scraper_job_abandon(job_id="j1") is None
    job = ScraperJob.objects.get(job_id="j1")
    assert (job.status, job.error, job.processed) == ("failed", "SCRAPER_DISCONNECTED", 10)
    assert job.finished_at == T0 + dt.timedelta(minutes=2)
    assert scraper_job_last_event(job_id="j1") == ("scraper_failed", failed)


def test_abandon_leaves_finished_and_unknown_jobs_alone(db) -> None:
    record("scraper_started", STARTED)
    record("scraper_completed", COMPLETED, 1)
    assert services.scraper_job_abandon(job_id="j1") is None
    assert services.scraper_job_abandon(job_id="nobody") is None
    assert ScraperJob.objects.get(job_id="j1").status == "completed"
    assert not ScraperJob.objects.filter(job_id="nobody").exists()


@pytest.mark.django_db(transaction=True)
async def test_relay_records_then_counts_and_disconnect_fails_running_jobs() -> None:
    # no server runs here: the relay reaches no socket, but the job is recorded
    assert await services.scraper_event_relay(event="scraper_started", payload=STARTED) == 0
    other = {**STARTED, "job_id": "j2"}
    await services.scraper_event_broadcast(event="scraper_started", payload=other, sender_sid="s")
    await services.scraper_event_relay(event="scraper_completed", payload=COMPLETED)
    assert await services.scraper_disconnected(job_ids=["j1", "j2", "j3"]) == ["j2"]
    statuses = {job.job_id: job.status async for job in ScraperJob.objects.order_by("job_id")}
    assert statuses == {"j1": "completed", "j2": "failed"}

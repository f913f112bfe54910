"""The lead-finder wire vocabulary: namespace, event names, job ids and the job's room."""

from __future__ import annotations

import re

NAMESPACE = "/v1/lead-finder"

STARTED = "scraper_started"
PROGRESS = "scraper_progress"
LEAD = "scraper_lead"
COMPLETED = "scraper_completed"
FAILED = "scraper_failed"

SCRAPER_EVENTS = (STARTED, PROGRESS, LEAD, COMPLETED, FAILED)
STATUS_EVENTS = frozenset({STARTED, PROGRESS, COMPLETED, FAILED})
"""The events that change a job's status; the last one is replayed to a joiner."""
RUNNING_EVENTS = frozenset({STARTED, PROGRESS, LEAD})
"""Events that say a scraper socket is running a job, until it completes or fails."""

SCRAPER_DISCONNECTED = "SCRAPER_DISCONNECTED"

JOB_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_JOB_ID_LENGTH = 64


def is_job_id(value: object) -> bool:
    return isinstance(value, str) and JOB_ID_PATTERN.fullmatch(value) is not None


def job_room(job_id: str) -> str:
    """The room of a job's watchers (contract §4)."""
    return f"lead-finder:{job_id}"

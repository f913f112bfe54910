"""Socket consumer of `/v1/lead-finder`: watchers join jobs, scrapers report on them."""

from __future__ import annotations

from typing import Any

from realtime.api import ApiConsumer
from realtime.envelope import ValidationFailed, success

from . import events, selectors, services
from .serializers import JobSerializer, scraper_payload, validated

MAX_JOBS_PER_SOCKET = 100


class LeadFinderConsumer(ApiConsumer):
    """`/v1/lead-finder`: open to anyone; no token is looked at (contract §6).

    Watchers `join` / `leave` a job's room; a join replays the job's last status event at
    once (read from the database, so it works whichever process the scraper is on). A
    scraper's events are validated, recorded and relayed to the room, not back to it. The
    jobs a socket has started or reported on and not finished are failed with
    SCRAPER_DISCONNECTED if it drops.
    """

    permission_classes = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watching: set[str] = set()  # the jobs whose rooms this socket is in
        self.running: set[str] = set()  # the jobs this socket reports on, not yet finished
        self._live_held: list[list[str | bytes]] | None = None

    def deliver(self, frames: list[str | bytes]) -> None:
        """While a join reads the last status, room events wait, so the replay comes first."""
        if self._live_held is not None:
            self._live_held.append(frames)
        else:
            super().deliver(frames)

    async def on_disconnect(self, reason: str) -> None:
        running, self.running = self.running, set()
        await services.scraper_disconnected(job_ids=sorted(running))

    # ----- watchers ----------------------------------------------------------------------

    async def on_join(self, payload: Any = None) -> dict[str, Any]:
        job_id = validated(JobSerializer, payload)["job_id"]
        if job_id not in self.watching:
            _check_room_for(self.watching)
        # join, then read, holding what the room sends meanwhile until the replay is out: a
        # status sent during the read may arrive twice, never not at all nor before an older one
        held: list[list[str | bytes]] = []
        self._live_held = held
        try:
            await self.join(events.job_room(job_id))
            self.watching.add(job_id)
            last = await selectors.scraper_job_last_event_async(job_id=job_id)
            self._live_held = None
            if last is not None:
                await self.emit(*last)  # to this socket only: written at once
        finally:
            self._live_held = None
            for frames in held:
                super().deliver(frames)
        return success({"job_id": job_id, "last_event": last[0] if last else None})

    async def on_leave(self, payload: Any = None) -> dict[str, Any]:
        job_id = validated(JobSerializer, payload)["job_id"]
        self.watching.discard(job_id)
        await self.leave(events.job_room(job_id))
        return success({"job_id": job_id})

    # ----- scrapers ----------------------------------------------------------------------

    async def on_scraper_started(self, payload: Any = None) -> dict[str, Any]:
        return await self._relay(events.STARTED, payload)

    async def on_scraper_progress(self, payload: Any = None) -> dict[str, Any]:
        return await self._relay(events.PROGRESS, payload)

    async def on_scraper_lead(self, payload: Any = None) -> dict[str, Any]:
        return await self._relay(events.LEAD, payload)

    async def on_scraper_completed(self, payload: Any = None) -> dict[str, Any]:
        return await self._relay(events.COMPLETED, payload)

    async def on_scraper_failed(self, payload: Any = None) -> dict[str, Any]:
        return await self._relay(events.FAILED, payload)

    async def _relay(self, event: str, data: Any) -> dict[str, Any]:
        payload = scraper_payload(event, data)
        job_id = payload["job_id"]
        runs = event in events.RUNNING_EVENTS
        if runs and job_id not in self.running:
            _check_room_for(self.running)
        await services.scraper_event_broadcast(event=event, payload=payload, sender_sid=self.sid)
        if runs:
            self.running.add(job_id)
        else:
            self.running.discard(job_id)
        return success()


def _check_room_for(jobs: set[str]) -> None:
    if len(jobs) >= MAX_JOBS_PER_SOCKET:
        raise ValidationFailed(
            errors={"job_id": [f"a socket may follow at most {MAX_JOBS_PER_SOCKET} jobs at once"]}
        )

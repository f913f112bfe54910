"""The jobs' admin: status and progress listed, filtered by status, searched by id or query."""

from __future__ import annotations

from leadfinder import services


def test_the_job_list_shows_progress_and_filters(admin_client) -> None:
    services.scraper_event_record(
        event="scraper_started", payload={"job_id": "plumb-1", "query": "plumbers"}
    )
    progress = {"job_id": "plumb-1", "processed": 10, "total": 40, "found": 4, "percent": 25.0}
    services.scraper_event_record(event="scraper_progress", payload=progress)
    services.scraper_event_record(
        event="scraper_started", payload={"job_id": "roof-2", "query": "roofers"}
    )
    url = "/admin/leadfinder/scraperjob/"
    page = admin_client.get(url).content.decode()
    assert "plumb-1" in page and "roof-2" in page and "25% (10/40)" in page
    running = admin_client.get(url, {"status__exact": "running"}).content.decode()
    assert "plumb-1" in running and "roof-2" not in running
    found = admin_client.get(url, {"q": "roofers"}).content.decode()
    assert "roof-2" in found and "plumb-1" not in found
    assert "roof-2" not in admin_client.get(url, {"q": "plumb-1"}).content.decode()
    assert admin_client.get(url, {"o": "5"}).status_code == 200  # ordered by progress

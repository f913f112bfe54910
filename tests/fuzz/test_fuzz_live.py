"""The raw-socket fuzzer against live servers, bounded: hostile Engine.IO / Socket.IO frames
and HTTP polling requests (tests/fuzz/*_cases.py). Every case ends in a clean
error or close; after every batch `/status` is 200 and a normal client is served; the server
logs no traceback. `bench/fuzz.py` runs the same cases for longer."""

from __future__ import annotations

import pytest

from tests.conftest import ADAPTER_SETTINGS

from .runner import CASES, SERVER_ENV, adapter_target, product_target, run_fuzz

pytestmark = pytest.mark.fuzz

SECONDS = 10.0  # per server: both, with their start-up, stay within ~30 s


@pytest.mark.parametrize(
    ("settings", "make_target"),
    [(ADAPTER_SETTINGS, adapter_target), ("config.settings.test", product_target)],
    ids=["test-namespaces", "product-namespaces"],
)
async def test_every_case_ends_clean_and_the_server_stays_healthy(
    server_factory, settings, make_target
) -> None:
    server = server_factory(settings, **SERVER_ENV)
    report = await run_fuzz(make_target(server.url), cases=50_000, seconds=SECONDS)
    print(f"\nfuzz ({settings}):\n{report.table()}")
    assert not report.failures, "\n".join(report.failures)
    assert report.tried >= 200, report.table()  # every kind of case is among the first 100
    assert {name for name, _ in report.outcomes} == set(CASES), "a kind of case never ran"
    log = server.log_path.read_text(errors="replace")
    assert "Traceback" not in log, log[-5000:]

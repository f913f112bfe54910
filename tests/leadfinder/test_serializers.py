"""Lead-finder payload validation: shapes, sizes, job ids, flat error fields."""

from __future__ import annotations

from typing import Any

import pytest

from leadfinder.serializers import JobSerializer, flat_errors, scraper_payload, validated
from realtime.envelope import ValidationFailed


def errors_of(event: str, data: Any, **kwargs: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as raised:
        scraper_payload(event, data, **kwargs)
    assert raised.value.envelope()["message"] == "VALIDATION_ERROR"
    return raised.value.errors or {}


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("scraper_started", {"job_id": "j1", "query": "plumbers"}),
        (
            "scraper_started",
            {"job_id": "j1", "query": "plumbers", "location": "Berlin", "total_expected": 40},
        ),
        (
            "scraper_progress",
            {"job_id": "j1", "processed": 5, "total": 40, "found": 3, "percent": 12.5},
        ),
        ("scraper_lead", {"job_id": "j1", "lead": {"name": "Acme"}}),
        (
            "scraper_lead",
            {
                "job_id": "j1",
                "lead": {
                    "name": "Acme",
                    "phone": "+49 30 123",
                    "website": "https://acme.example",
                    "address": "Hauptstr. 1",
                    "rating": 4.5,
                },
            },
        ),
        ("scraper_completed", {"job_id": "j1", "found": 3, "duration_ms": 1200}),
        ("scraper_failed", {"job_id": "j1", "error": "captcha"}),
    ],
)
def test_valid_payloads_pass_unchanged(event: str, payload: dict[str, Any]) -> None:
    assert scraper_payload(event, payload) == payload


def test_unknown_fields_are_dropped_and_optional_nulls_kept() -> None:
    payload = {"job_id": "j1", "lead": {"name": "Acme", "rating": None, "x": 1}, "spam": "y"}
    assert scraper_payload("scraper_lead", payload) == {
        "job_id": "j1",
        "lead": {"name": "Acme", "rating": None},
    }


@pytest.mark.parametrize(
    "job_id", ["", "a b", "a/b", "job.1", "é", "j1\n", " j1", "x" * 65, 7.5, True, None, ["j1"]]
)
def test_malformed_job_ids_are_refused(job_id: Any) -> None:
    assert "job_id" in errors_of("scraper_failed", {"job_id": job_id, "error": "e"})
    with pytest.raises(ValidationFailed):
        validated(JobSerializer, {"job_id": job_id})


def test_job_ids_of_64_allowed_characters_pass_and_numbers_become_strings() -> None:
    job_id = ("Az09_-" * 11)[:64]
    assert validated(JobSerializer, {"job_id": job_id}) == {"job_id": job_id}
    assert validated(JobSerializer, {"job_id": 42}) == {"job_id": "42"}


@pytest.mark.parametrize(
    ("event", "payload", "field"),
    [
        ("scraper_started", {"job_id": "j", "query": "q" * 501}, "query"),
        ("scraper_started", {"job_id": "j", "query": "q", "location": "l" * 201}, "location"),
        ("scraper_failed", {"job_id": "j", "error": "e" * 501}, "error"),
        ("scraper_lead", {"job_id": "j", "lead": {"name": "n" * 301}}, "lead.name"),
        ("scraper_lead", {"job_id": "j", "lead": {"name": "n", "phone": "1" * 65}}, "lead.phone"),
        (
            "scraper_lead",
            {"job_id": "j", "lead": {"name": "n", "website": "w" * 2049}},
            "lead.website",
        ),
    ],
)
def test_oversized_strings_are_refused(event: str, payload: dict[str, Any], field: str) -> None:
    errors = errors_of(event, payload)
    assert list(errors) == [field]
    assert "no more than" in errors[field][0]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"processed": -1}, "processed"),
        ({"total": 10**10}, "total"),
        ({"found": True}, "found"),
        ({"found": "many"}, "found"),
        ({"percent": 100.5}, "percent"),
        ({"percent": "nan"}, "percent"),
        ({"percent": True}, "percent"),
    ],
)
def test_progress_numbers_are_bounded(payload: dict[str, Any], field: str) -> None:
    base = {"job_id": "j", "processed": 1, "total": 2, "found": 1, "percent": 50}
    assert list(errors_of("scraper_progress", {**base, **payload})) == [field]


def test_missing_fields_and_bad_nesting_name_every_field() -> None:
    assert set(errors_of("scraper_progress", {"job_id": "j"})) == {
        "processed",
        "total",
        "found",
        "percent",
    }
    assert list(errors_of("scraper_lead", {"job_id": "j", "lead": "Acme"})) == ["lead"]
    assert list(errors_of("scraper_lead", {"job_id": "j", "lead": {"rating": 6}})) == [
        "lead.name",
        "lead.rating",
    ]


@pytest.mark.parametrize("data", [None, [], "j1", 3])
def test_a_payload_must_be_an_object(data: Any) -> None:
    assert errors_of("scraper_failed", data) == {"payload": ["must be a JSON object"]}


def test_unknown_events_are_refused() -> None:
    assert list(errors_of("scraper_paused", {"job_id": "j"})) == ["event"]


def test_the_path_job_id_fills_in_and_must_match() -> None:
    payload = scraper_payload("scraper_failed", {"error": "e"}, job_id="j1")
    assert payload == {"job_id": "j1", "error": "e"}
    assert list(errors_of("scraper_failed", {"job_id": "j2", "error": "e"}, job_id="j1")) == [
        "job_id"
    ]


def test_flat_errors_joins_nested_fields() -> None:
    detail = {"lead": {"name": ["required"], "non_field_errors": ["bad"]}, "job_id": "x"}
    assert flat_errors(detail) == {"lead.name": ["required"], "lead": ["bad"], "job_id": ["x"]}

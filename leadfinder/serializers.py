"""Serializers of the lead-finder events: every payload is validated and size-limited here."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from realtime.envelope import ValidationFailed
from realtime.serializers import validate

from . import events

MAX_COUNT = 1_000_000_000
MAX_DURATION_MS = 10**12
MAX_QUERY_LENGTH = 500
MAX_LOCATION_LENGTH = 200
MAX_ERROR_LENGTH = 500


def validate_job_id(value: str) -> str:
    if not events.is_job_id(value):
        raise serializers.ValidationError("must be 1-64 characters of A-Z, a-z, 0-9, _ and -")
    return value


class JobIdField(serializers.CharField):
    """A job id, taken exactly as sent (no trimming): 1-64 characters of [A-Za-z0-9_-]."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("validators", [validate_job_id])
        super().__init__(trim_whitespace=False, **kwargs)


class CountField(serializers.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=0, max_value=MAX_COUNT, **kwargs)


class NumberField(serializers.FloatField):
    """A finite JSON number (not a boolean) within bounds."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


def optional_text(max_length: int) -> serializers.CharField:
    return serializers.CharField(
        max_length=max_length, required=False, allow_null=True, allow_blank=True
    )


class JobSerializer(serializers.Serializer):
    """`join` / `leave {job_id}`."""

    job_id = JobIdField()


class ScraperStartedSerializer(JobSerializer):
    query = serializers.CharField(max_length=MAX_QUERY_LENGTH)
    location = optional_text(MAX_LOCATION_LENGTH)
    total_expected = CountField(required=False, allow_null=True)


class ScraperProgressSerializer(JobSerializer):
    processed = CountField()
    total = CountField()
    found = CountField()
    percent = NumberField(min_value=0, max_value=100)


class LeadSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=300)
    phone = optional_text(64)
    website = optional_text(2048)
    address = optional_text(500)
    rating = NumberField(min_value=0, max_value=5, required=False, allow_null=True)


class ScraperLeadSerializer(JobSerializer):
    lead = LeadSerializer()


class ScraperCompletedSerializer(JobSerializer):
    found = CountField()
    duration_ms = serializers.IntegerField(min_value=0, max_value=MAX_DURATION_MS)


class ScraperFailedSerializer(JobSerializer):
    error = serializers.CharField(max_length=MAX_ERROR_LENGTH)


PAYLOAD_SERIALIZERS: dict[str, type[serializers.Serializer]] = {
    events.STARTED: ScraperStartedSerializer,
    events.PROGRESS: ScraperProgressSerializer,
    events.LEAD: ScraperLeadSerializer,
    events.COMPLETED: ScraperCompletedSerializer,
    events.FAILED: ScraperFailedSerializer,
}


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """`data` through `serializer_class`, or ValidationFailed with flat `{field: [msg]}`."""
    if not isinstance(data, dict):
        raise ValidationFailed(errors={"payload": ["must be a JSON object"]})
    try:
        return validate(serializer_class, data)
    except serializers.ValidationError as exc:
        raise ValidationFailed(errors=flat_errors(exc.detail)) from None


def scraper_payload(event: str, data: Any, *, job_id: str | None = None) -> dict[str, Any]:
    """A scraper event's validated payload: the declared fields only (unknown ones dropped), so
    watchers get the shapes of contract §6 and nothing else. With `job_id` (the REST path's),
    the payload's own `job_id` may be left out, and must match when given."""
    if event not in PAYLOAD_SERIALIZERS:
        names = ", ".join(events.SCRAPER_EVENTS)
        raise ValidationFailed(errors={"event": [f"must be one of {names}"]})
    if job_id is not None and isinstance(data, dict):
        data = {"job_id": job_id, **data}
        if data["job_id"] != job_id:
            raise ValidationFailed(errors={"job_id": ["does not match the job id in the path"]})
    return validated(PAYLOAD_SERIALIZERS[event], data)


def flat_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested errors as `{"field": [...], "lead.name": [...]}` (contract §3)."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for field, inner in detail.items():
            name = prefix if field == "non_field_errors" and prefix else _join(prefix, field)
            for key, messages in flat_errors(inner, name).items():
                flat.setdefault(key, []).extend(messages)
        return flat
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(message) for message in messages]}


def _join(prefix: str, field: Any) -> str:
    return f"{prefix}.{field}" if prefix else str(field)

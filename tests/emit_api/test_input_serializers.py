"""Input serializers with fields built once per class validate as DRF's own copies do."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from emit_api.serializers import EmitToUserSerializer, LeadFinderEventSerializer

CASES = [
    {"user_id": "u1", "event": "hello"},
    {"user_id": "u1", "event": "hello", "namespace": "conversation"},
    {"user_id": "", "event": "connect", "namespace": "nope"},
    {"user_id": "x" * 201, "event": "e" * 129},
    {},
]


class DeepCopied(EmitToUserSerializer):
    """The same serializer with DRF's get_fields (a deep copy per instance)."""

    def get_fields(self):
        return serializers.Serializer.get_fields(self)


@pytest.mark.parametrize("data", CASES)
def test_the_same_answers_as_drf_deep_copies(data: dict) -> None:
    ours, drfs = EmitToUserSerializer(data=data), DeepCopied(data=data)
    assert ours.is_valid() == drfs.is_valid()
    assert ours.errors == drfs.errors
    if not ours.errors:
        assert ours.validated_data == drfs.validated_data


def test_each_instance_has_its_own_bound_fields() -> None:
    first, second = EmitToUserSerializer(data={}), EmitToUserSerializer(data={})
    assert first.fields["user_id"] is not second.fields["user_id"]
    assert first.fields["user_id"].parent is first and second.fields["user_id"].parent is second
    # every class its own prototypes, not a base's or a sibling's
    assert set(LeadFinderEventSerializer().fields) == {"job_id", "event"}
    assert set(EmitToUserSerializer().fields) == {"namespace", "user_id", "event"}

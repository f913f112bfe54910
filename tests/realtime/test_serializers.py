"""FieldsBuiltOnceSerializer: fields built once per class, instances as independent as DRF's."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from realtime.serializers import FieldsBuiltOnceSerializer


class CountingField(serializers.CharField):
    built = 0

    def __init__(self, **kwargs: Any) -> None:
        type(self).built += 1
        super().__init__(**kwargs)


class Inner(FieldsBuiltOnceSerializer):
    tag = serializers.CharField(max_length=3)


class Payload(FieldsBuiltOnceSerializer):
    name = CountingField(max_length=5)
    items = serializers.ListField(child=serializers.IntegerField(), max_length=2)
    inner = Inner(required=False)


class Child(Payload):
    extra = serializers.BooleanField(default=False)


def test_fields_are_built_once_per_class() -> None:
    CountingField.built = 0
    for _ in range(5):
        assert Payload(data={"name": "ok", "items": [1]}).is_valid()
    assert CountingField.built == 1  # the class's prototypes, once (DRF: once per instance)
    assert Child(data={"name": "ok", "items": []}).is_valid()
    assert CountingField.built == 2  # a subclass gets prototypes of its own


def test_instances_validate_and_fail_apart() -> None:
    bad = Payload(data={"name": "too long", "items": [1, "x", 3], "inner": {"tag": "long"}})
    good = Payload(data={"name": "ok", "items": ["2"], "inner": {"tag": "a"}})

    assert not bad.is_valid() and good.is_valid()
    assert set(bad.errors) == {"name", "items", "inner"}
    assert good.validated_data == {"name": "ok", "items": [2], "inner": {"tag": "a"}}
    assert good.fields["name"].parent is good and bad.fields["name"].parent is bad
    assert good.fields["inner"].fields["tag"].parent is good.fields["inner"]


def test_a_subclass_keeps_the_base_fields_and_its_own() -> None:
    child = Child(data={"name": "ok", "items": [], "extra": True})
    assert child.is_valid(), child.errors
    assert child.validated_data == {"name": "ok", "items": [], "extra": True}
    assert "extra" not in Payload().fields

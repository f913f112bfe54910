"""FieldsBuiltOnceSerializer: fields built once per class, instances as independent as DRF's."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework import serializers

from realtime.serializers import FieldsBuiltOnceSerializer, validate


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


class Checked(Payload):
    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["name"] == "no":
            raise serializers.ValidationError({"name": ["not this one"]})
        return attrs


@pytest.mark.parametrize(
    "data",
    [
        {"name": "ok", "items": ["2"], "inner": {"tag": "a"}},
        {"name": "too long", "items": [1, "x", 3], "inner": {"tag": "long"}},
        {"name": "no", "items": []},
        {"items": "not a list"},
        ["not", "an", "object"],
        {},
    ],
)
def test_validate_answers_as_is_valid_does(data: Any) -> None:
    serializer = Checked(data=data)
    if serializer.is_valid():
        assert validate(Checked, data) == serializer.validated_data
    else:
        with pytest.raises(serializers.ValidationError) as raised:
            validate(Checked, data)
        assert raised.value.detail == serializer.errors


class Counted(Child):
    instances = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        type(self).instances += 1
        super().__init__(*args, **kwargs)


def test_validate_uses_one_instance_per_class_and_keeps_nothing_between_payloads() -> None:
    with pytest.raises(serializers.ValidationError):
        validate(Counted, {"name": "too long", "items": ["x"]})
    assert validate(Counted, {"name": "ok", "items": ["1"]}) == {
        "name": "ok",
        "items": [1],
        "extra": False,
    }
    assert validate(Counted, {"name": "b", "items": [], "extra": True})["extra"] is True
    assert validate(Counted, {"name": "c", "items": []})["extra"] is False
    assert Counted.instances == 1

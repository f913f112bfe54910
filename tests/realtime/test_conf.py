"""The adapter's settings (realtime.conf): defaults under `REALTIME`, read once and read again
whenever `REALTIME` changes."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from realtime.conf import DEFAULTS, realtime_settings


def test_a_setting_left_out_is_its_default(settings: Any) -> None:
    settings.REALTIME = {"MAX_PAYLOAD": 1234}
    assert realtime_settings.MAX_PAYLOAD == 1234
    assert DEFAULTS["PING_INTERVAL_MS"] == realtime_settings.PING_INTERVAL_MS


def test_a_change_of_the_settings_is_read_and_undone_with_them() -> None:
    before = realtime_settings.MAX_PAYLOAD
    with override_settings(REALTIME={"MAX_PAYLOAD": before + 1}):
        assert before + 1 == realtime_settings.MAX_PAYLOAD
        with override_settings(REALTIME={"MAX_PAYLOAD": before + 2}):
            assert before + 2 == realtime_settings.MAX_PAYLOAD
        assert before + 1 == realtime_settings.MAX_PAYLOAD
    assert before == realtime_settings.MAX_PAYLOAD


def test_pytest_djangos_settings_fixture_is_read(settings: Any) -> None:
    settings.REALTIME = {**settings.REALTIME, "TRUSTED_PROXIES": ["10.0.0.0/8"]}
    assert realtime_settings.TRUSTED_PROXIES == ["10.0.0.0/8"]
    settings.REALTIME = {**settings.REALTIME, "TRUSTED_PROXIES": []}
    assert realtime_settings.TRUSTED_PROXIES == []


def test_another_setting_changing_keeps_what_was_read(settings: Any) -> None:
    settings.REALTIME = {"MAX_PAYLOAD": 4321}
    assert realtime_settings.MAX_PAYLOAD == 4321
    settings.DEBUG = not settings.DEBUG
    assert realtime_settings.MAX_PAYLOAD == 4321


def test_an_unknown_setting_is_refused_even_when_configured(settings: Any) -> None:
    settings.REALTIME = {"NOT_A_SETTING": 1}
    with pytest.raises(AttributeError, match="unknown realtime setting 'NOT_A_SETTING'"):
        _ = realtime_settings.NOT_A_SETTING
    assert not hasattr(realtime_settings, "ALSO_NOT_ONE")


def test_the_settings_are_read_once_until_they_change(settings: Any) -> None:
    """A dict changed in place sends no `setting_changed`: what was read is kept."""
    settings.REALTIME = {"MAX_PAYLOAD": 1}
    assert realtime_settings.MAX_PAYLOAD == 1
    settings.REALTIME["MAX_PAYLOAD"] = 2
    assert realtime_settings.MAX_PAYLOAD == 1
    settings.REALTIME = {"MAX_PAYLOAD": 3}
    assert realtime_settings.MAX_PAYLOAD == 3

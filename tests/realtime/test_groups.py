"""Group names: always valid for the channel layer, and one per (namespace, room) pair."""

from __future__ import annotations

import re

import pytest
from channels.layers import BaseChannelLayer
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.groups import group_name, hub_channel
from realtime.ids import PROCESS_ID

# ASCII only: what every channel layer backend (and a Redis key reader) can take as it is
GROUP_NAME = re.compile(r"^[a-zA-Z0-9\-_.]+$")
LAYER = BaseChannelLayer()

_text = st.text(st.characters(exclude_categories=()))  # NUL, surrogates, anything
_names = st.one_of(_text, st.text(min_size=90, max_size=400))
_rooms = st.none() | _names


def assert_valid(name: str) -> None:
    assert GROUP_NAME.fullmatch(name), name
    assert len(name) < 100, name
    LAYER.require_valid_group_name(name)  # the layer's own check


@settings(max_examples=400)
@given(_names, _rooms)
def test_group_name_is_always_valid(namespace: str, room: str | None) -> None:
    assert_valid(group_name(namespace, room))


@settings(max_examples=400)
@given(_names, _rooms, _names, _rooms)
def test_distinct_pairs_give_distinct_names(
    namespace: str, room: str | None, other_namespace: str, other_room: str | None
) -> None:
    same_pair = (namespace, room) == (other_namespace, other_room)
    same_name = group_name(namespace, room) == group_name(other_namespace, other_room)
    assert same_pair == same_name


@given(_names, _rooms)
def test_group_name_is_stable(namespace: str, room: str | None) -> None:
    assert group_name(namespace, room) == group_name(namespace, room)


@pytest.mark.parametrize("namespace", ["/", "/v1/shared", "", "*", "/" + "x" * 200])
def test_whole_namespace_is_distinct_from_empty_and_star_rooms(namespace: str) -> None:
    names = {group_name(namespace, None), group_name(namespace, ""), group_name(namespace, "*")}
    assert len(names) == 3


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # pairs that join alike with a separator, past the readable slug's length
        (("/" + "x" * 50 + "\x00b", "c"), ("/" + "x" * 50, "b\x00c")),
        (("/" + "x" * 50 + "\x00", "False"), ("/" + "x" * 50, "\x00False")),
        (("/" + "x" * 50, "a"), ("/" + "x" * 50, "a\x00False")),
        (("/a", "b.c"), ("/a.b", "c")),  # slugs alike
        (("/a", "b c"), ("/a", "b_c")),
        (("/a", "\u0663"), ("/a", "3")),  # ARABIC-INDIC DIGIT THREE is no ASCII digit
    ],
)
def test_lookalike_pairs_get_distinct_names(
    first: tuple[str, str | None], second: tuple[str, str | None]
) -> None:
    assert group_name(*first) != group_name(*second)
    assert_valid(group_name(*first))
    assert_valid(group_name(*second))


def test_group_name_keeps_a_readable_slug() -> None:
    assert group_name("/v1/shared", "user:42").startswith("sio._v1_shared.user_42.")
    assert group_name("/chat", None).startswith("sio._chat._.")


def test_hub_channel_is_a_valid_channel_name() -> None:
    name = hub_channel(PROCESS_ID)
    assert name == f"sio.hub.{PROCESS_ID}"
    LAYER.require_valid_channel_name(name)

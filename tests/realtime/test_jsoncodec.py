"""realtime.jsoncodec: what the stdlib writes where orjson refuses, and how deep parsed JSON
nests, without recursing."""

from __future__ import annotations

import pytest

from realtime.jsoncodec import MAX_DEPTH, dumps, loads, nests_deeper


def nested(depth: int, inner: str = "0") -> str:
    text = inner
    for level in range(depth):
        text = f"[{text}]" if level % 2 else f'{{"k":{text}}}'
    return text


@pytest.mark.parametrize("depth", [0, 1, MAX_DEPTH - 1, MAX_DEPTH])
def test_up_to_the_limit_is_not_too_deep(depth: int) -> None:
    text = nested(depth)
    assert not nests_deeper(loads(text))
    assert not nests_deeper(loads(text), MAX_DEPTH, text)
    assert not nests_deeper(loads(text), MAX_DEPTH, text.encode())


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1000])
def test_past_the_limit_is_too_deep_with_or_without_the_text(depth: int) -> None:
    text = nested(depth)
    assert nests_deeper(loads(text))
    assert nests_deeper(loads(text), MAX_DEPTH, text)
    assert nests_deeper(loads(text), MAX_DEPTH, text.encode())


def test_brackets_in_strings_are_counted_but_do_not_nest() -> None:
    text = '["' + "[" * 500 + '"]'
    assert not nests_deeper(loads(text), MAX_DEPTH, text)  # walked: one level
    assert nests_deeper(loads(nested(3)), 2)


def test_wide_data_is_walked_without_recursion() -> None:
    wide = [[[0]] * 1000] * 50
    assert not nests_deeper(wide, 3)
    assert nests_deeper(wide, 2)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (2**70, "1180591620717411303424"),
        ({1: "a"}, '{"1":"a"}'),
        (["\ud800", "é"], '["\\ud800","\\u00e9"]'),  # a lone surrogate: all escaped, as UTF-8 can't
        ([float("inf"), 2**70, {"n": float("nan")}], '[null,1180591620717411303424,{"n":null}]'),
        ([2**70, "é"], '[1180591620717411303424,"é"]'),
    ],
)
def test_what_orjson_refuses_is_written_as_javascript_writes_it(value: object, text: str) -> None:
    assert dumps(value) == text
    text.encode()  # valid UTF-8, as a WebSocket text frame must be


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"\\ud83d"', "\ufffd"),  # the first half of U+1F44D, as JSON.stringify writes it
        ('["cut \\ud83d", "\\udc4d end"]', ["cut \ufffd", "\ufffd end"]),
        ('{"k\\udfff": {"n": ["\\ud800\\ud83d\\udc4d"]}}', {"k\ufffd": {"n": ["\ufffd👍"]}}),
        ('{"a": 1, "b\\ud800": 2, "c": 3}', {"a": 1, "b\ufffd": 2, "c": 3}),
        (b'["\\uD83D", 1.5, null]', ["\ufffd", 1.5, None]),
        ('["\\\\ud800"]', ["\\ud800"]),  # an escaped backslash, not an escape: orjson's
        ('"\\ud83d\\udc4d"', "👍"),  # a pair: orjson's
    ],
)
def test_a_lone_surrogate_escape_is_read_as_the_replacement_character(
    text: str | bytes, value: object
) -> None:
    parsed = loads(text)
    assert parsed == value
    if isinstance(value, dict):
        assert list(parsed) == list(value)  # the keys' order kept
    dumps(parsed).encode()  # storable and writable as UTF-8


@pytest.mark.parametrize(
    "text",
    [
        '["\\ud800", NaN]',
        '["\\ud800", Infinity]',
        '["\\ud800",]',
        '"\\ud800',
        "[" * 5000 + '"\\ud800"' + "]" * 5000,
    ],
)
def test_what_is_not_json_with_a_lone_surrogate_is_still_refused(text: str) -> None:
    with pytest.raises(ValueError):
        loads(text)

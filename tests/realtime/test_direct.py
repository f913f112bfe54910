"""Frames written straight to uvicorn's transport: framed as the websockets library frames them."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from realtime.engineio.direct import direct_writer_of, ws_frame


def parsed(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        return done.value
    raise AssertionError("incomplete frame")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 200_000])
def test_text_frames_of_every_length_encoding(size: int) -> None:
    text = "é" * (size // 2) + "x" * (size % 2)
    frame = parsed(ws_frame(text))
    assert (frame.opcode, frame.fin, frame.data.decode()) == (Opcode.TEXT, True, text)
    assert ws_frame(text) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def test_binary_frames() -> None:
    frame = parsed(ws_frame(b"\x00\x01\xff"))
    assert (frame.opcode, frame.data) == (Opcode.BINARY, b"\x00\x01\xff")


def test_only_uvicorns_send_has_a_direct_writer() -> None:
    async def send(message: dict) -> None: ...

    assert direct_writer_of(send) is None
    assert direct_writer_of(None) is None

"""A layer message of many broadcasts (realtime.hub.Hub.broadcast_many), as a receiving process
delivers it: each broadcast to its rooms' local sockets, apart from the others."""

from __future__ import annotations

import logging

import pytest

from realtime.hub import Hub
from realtime.ids import PROCESS_ID

NS = "/v1/conversation"


class Socket:
    def __init__(self, sid: str, *, broken: bool = False) -> None:
        self.sid = sid
        self.broken = broken
        self.got: list[list] = []

    def deliver(self, frames: list) -> None:
        if self.broken:
            raise RuntimeError("socket broke")
        self.got.append(frames)


def hub_with(*placed: tuple[Socket, str]) -> Hub:
    hub = Hub()
    for socket, room in placed:
        hub.rooms[(NS, None)].add(socket)
        hub.rooms[(NS, room)].add(socket)
    return hub


def message(broadcasts: list, origin: str = "other-process", number: int = 1) -> dict:
    return {"type": "sio.broadcasts", "origin": origin, "id": number, "ns": NS,
            "broadcasts": broadcasts}  # fmt: skip


def test_each_broadcast_reaches_its_rooms_and_skips_the_excluded() -> None:
    ann, bob, cid = Socket("a"), Socket("b"), Socket("c")
    hub = hub_with((ann, "user:ann"), (bob, "user:bob"), (cid, "user:cid"))
    hub.sio_broadcasts(
        message(
            [
                [["42one"], ["user:ann", "user:bob"], []],
                [["42two"], None, ["user:bob"]],  # everyone on the namespace but bob's room
                [["42three"], ["user:nobody-here"], []],
            ]
        )
    )
    assert ann.got == [["42one"], ["42two"]]
    assert bob.got == [["42one"]]
    assert cid.got == [["42two"]]


def test_a_failing_broadcast_leaves_the_others(caplog: pytest.LogCaptureFixture) -> None:
    broken, fine = Socket("x", broken=True), Socket("y")
    hub = hub_with((broken, "user:x"), (fine, "user:y"))
    with caplog.at_level(logging.ERROR, logger="realtime.hub"):
        hub.sio_broadcasts(message([[["42a"], ["user:x"], []], [["42b"], ["user:y"], []]]))
    assert fine.got == [["42b"]]
    assert "a broadcast of /v1/conversation failed" in caplog.text


def test_its_own_and_repeated_messages_are_not_delivered_again() -> None:
    ann = Socket("a")
    hub = hub_with((ann, "user:ann"))
    hub.sio_broadcasts(message([[["42mine"], ["user:ann"], []]], origin=PROCESS_ID))
    assert ann.got == []  # delivered when it was emitted
    hub.sio_broadcasts(message([[["42once"], ["user:ann"], []]], number=7))
    hub.sio_broadcasts(message([[["42once"], ["user:ann"], []]], number=7))  # sent again
    assert ann.got == [["42once"]]

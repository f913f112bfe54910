"""What a process holds while the channel layer fails is bounded in broadcasts
(realtime.layerlink.MAX_HELD), whatever the layer messages carry them."""

from __future__ import annotations

import pytest

from realtime import layerlink
from realtime.layerlink import LayerLink


def broadcasts(n: int, tag: str) -> dict:
    return {"type": "sio.broadcasts", "tag": tag, "broadcasts": [[["4x"], None, []]] * n}


def test_held_messages_count_as_the_broadcasts_they_carry(monkeypatch) -> None:
    monkeypatch.setattr(layerlink, "MAX_HELD", 10)
    link = LayerLink(groups=lambda: [])
    link._hold("room", {"type": "sio.broadcast", "tag": "one"})
    link._hold("ns", broadcasts(4, "four"))
    link._hold("ns", broadcasts(5, "five"))
    assert [m["tag"] for _, m in link._held] == ["one", "four", "five"]  # 10: all kept

    link._hold("ns", broadcasts(3, "three"))  # 13: the oldest go until 10 or fewer are left
    assert [m["tag"] for _, m in link._held] == ["five", "three"]
    assert link._held_broadcasts == 8
    assert link._dropped == 2

    link._hold("ns", broadcasts(50, "huge"))  # more than the bound alone: the newest is kept
    assert [m["tag"] for _, m in link._held] == ["huge"]


@pytest.mark.parametrize("changed", ["extendleft", "clear"])
def test_the_count_follows_other_changes(monkeypatch, changed: str) -> None:
    monkeypatch.setattr(layerlink, "MAX_HELD", 10)
    link = LayerLink(groups=lambda: [])
    link._hold("ns", broadcasts(4, "held"))
    if changed == "clear":
        link._held.clear()
    else:
        link._held.extendleft([("ns", broadcasts(6, "recent"))])
    link._held_changed()
    link._hold("ns", broadcasts(1, "next"))
    expected = ["next"] if changed == "clear" else ["held", "next"]
    assert [m["tag"] for _, m in link._held] == expected

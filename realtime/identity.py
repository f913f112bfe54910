"""Who is on the other end of a socket: a platform user, a live-chat visitor, or nobody."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class UserIdentity:
    """A platform user, from a user token's claims."""

    uid: str
    account_id: str | None = None
    workspace_id: str | None = None
    scopes: frozenset[str] = frozenset()
    assignment: dict[str, Any] = field(default_factory=dict)
    expires_at: float | None = None  # the token's `exp`, seconds since the epoch

    is_visitor = False

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @property
    def rooms(self) -> list[str]:
        """The rooms every socket of this user joins (contract §4)."""
        rooms = [f"user:{self.uid}"]
        if self.account_id:
            rooms.append(f"account:{self.account_id}")
        return rooms


@dataclass(frozen=True, slots=True)
class VisitorIdentity:
    """A website visitor in live chat, limited to its own conversation."""

    visitor_id: str
    account_id: str
    conversation_id: str
    expires_at: float | None = None

    is_visitor = True
    scopes: frozenset[str] = frozenset()

    @property
    def uid(self) -> str:
        return f"visitor:{self.visitor_id}"

    def has_scope(self, scope: str) -> bool:
        return False

    @property
    def rooms(self) -> list[str]:
        return [f"visitor:{self.visitor_id}"]


Identity = UserIdentity | VisitorIdentity

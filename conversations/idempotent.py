"""Messages stored once per client id: a client's retry gets the row its first try stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.db import IntegrityError, transaction

R = TypeVar("R")


def create_once(
    *, client_msg_id: str | None, find: Callable[[], R | None], create: Callable[[], R]
) -> tuple[R, bool]:
    """The row `create` stores and True, or the one `find` returns (stored under the same
    `client_msg_id` already, or by a concurrent retry that won the race) and False.

    `create` must fail with an IntegrityError when the row it would store exists (a unique
    constraint on the client id); `find` looks that row up.
    """
    if client_msg_id is not None:
        stored = find()
        if stored is not None:
            return stored, False
    try:
        with transaction.atomic():  # a savepoint: a concurrent retry may win the race
            return create(), True
    except IntegrityError:
        stored = find()
        if stored is None:
            raise
        return stored, False

"""Identifiers: this process's id, and session ids that name the process owning them.

A sid starts with the id of the process that holds it, so any process can route a packet, an
emit or (later) a forwarded request to the owner through the channel layer without a lookup.
"""

import secrets

PROCESS_ID_LENGTH = 8

PROCESS_ID: str = secrets.token_hex(PROCESS_ID_LENGTH // 2)


def new_sid() -> str:
    """A 24-character sid: this process's id, then 96 random bits (base64url)."""
    return PROCESS_ID + secrets.token_urlsafe(12)


def owner_of(sid: str) -> str | None:
    """The id of the process that issued `sid`, or None when `sid` is not one of ours."""
    prefix = sid[:PROCESS_ID_LENGTH]
    if len(sid) != 24 or not all(c in "0123456789abcdef" for c in prefix):
        return None
    return prefix

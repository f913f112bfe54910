"""Who may call the internal REST API: holders of INTERNAL_API_KEY, else loopback clients."""

from __future__ import annotations

import functools
import hmac
import ipaddress
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import BasePermission


@functools.lru_cache(maxsize=1)  # read on every REST request: ~10 % of the fast path's checks
def internal_api_keys() -> tuple[str, ...]:
    """The accepted keys; several (comma-separated) during a rotation window."""
    return tuple(key for key in getattr(settings, "INTERNAL_API_KEYS", []) if key)


@receiver(setting_changed)
def _forget_keys(setting: str, **kwargs: Any) -> None:
    if setting == "INTERNAL_API_KEYS":
        internal_api_keys.cache_clear()


class InternalAccess(BasePermission):
    """With INTERNAL_API_KEY set, `x-internal-key` must equal one of its keys (constant-time
    comparison); with it unset, only loopback clients. Refusals are 401."""

    def has_permission(self, request, view) -> bool:
        refusal = access_refusal(request.headers.get, request.META.get("REMOTE_ADDR", ""))
        if refusal is not None:
            raise NotAuthenticated(refusal)
        return True


def access_refusal(header: Callable[[str], str | None], remote_addr: str) -> str | None:
    """Why a caller with these headers (`header(name)`, any case) and this address may not
    call the API; None if it may."""
    keys = internal_api_keys()
    if keys:
        provided = _presented_key(header).encode()
        if any(hmac.compare_digest(provided, key.encode()) for key in keys):
            return None
        return "a valid x-internal-key header is required"
    if _is_loopback(remote_addr):
        return None
    return "only loopback clients may call without INTERNAL_API_KEY"


def _presented_key(header: Callable[[str], str | None]) -> str:
    """`x-internal-key`, or a bearer token (what Prometheus and most tools can send)."""
    key = header("x-internal-key")
    if key is not None:
        return key
    scheme, _, token = (header("authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@functools.lru_cache(maxsize=1024)
def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False

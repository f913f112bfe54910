"""Who may call the internal REST API: holders of INTERNAL_API_KEY, else loopback clients."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import BasePermission


def internal_api_keys() -> list[str]:
    """The accepted keys; several (comma-separated) during a rotation window."""
    return [key for key in getattr(settings, "INTERNAL_API_KEYS", []) if key]


class InternalAccess(BasePermission):
    """With INTERNAL_API_KEY set, `x-internal-key` must equal one of its keys (constant-time
    comparison); with it unset, only loopback clients. Refusals are 401."""

    def has_permission(self, request, view) -> bool:
        keys = internal_api_keys()
        if keys:
            provided = _presented_key(request).encode()
            if any(hmac.compare_digest(provided, key.encode()) for key in keys):
                return True
            raise NotAuthenticated("a valid x-internal-key header is required")
        if _is_loopback(request.META.get("REMOTE_ADDR", "")):
            return True
        raise NotAuthenticated("only loopback clients may call without INTERNAL_API_KEY")


def _presented_key(request) -> str:
    """`x-internal-key`, or a bearer token (what Prometheus and most tools can send)."""
    key = request.headers.get("x-internal-key")
    if key is not None:
        return key
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False

"""Who may connect to a namespace: DRF-style permission classes that a consumer declares.

    class ConversationConsumer(NamespaceConsumer):
        permission_classes = [IsAuthenticated, HasScope("conversation")]

Entries are classes or instances (`HasScope` takes its scope); `a | b` passes when either does.
A namespace that declares none is open to anyone and never looks at a token.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .auth import AuthenticationFailed, authenticate
from .envelope import AckError, Forbidden, NotAuthenticated, NotEnoughScope
from .identity import Identity

if TYPE_CHECKING:
    from .namespace import NamespaceConsumer

logger = logging.getLogger(__name__)


class BasePermission:
    """Grants or denies a CONNECT; `error` is what the client is told on a denial."""

    error: type[AckError] = Forbidden

    def has_permission(self, identity: Identity | None, consumer: NamespaceConsumer) -> bool:
        return True

    def __or__(self, other: Any) -> AnyOf:
        return AnyOf(self, other)

    def __ror__(self, other: Any) -> AnyOf:
        return AnyOf(other, self)


class AllowAny(BasePermission):
    """Anyone, with or without a token (a token that is given must still be valid)."""


class IsAuthenticated(BasePermission):
    """A valid user or visitor token."""

    error = NotAuthenticated

    def has_permission(self, identity: Identity | None, consumer: NamespaceConsumer) -> bool:
        return identity is not None


class IsVisitor(BasePermission):
    """A live-chat visitor token."""

    def has_permission(self, identity: Identity | None, consumer: NamespaceConsumer) -> bool:
        return identity is not None and identity.is_visitor


class HasScope(BasePermission):
    """A user token whose `scope` includes this exact scope (visitors have no scopes)."""

    error = NotEnoughScope

    def __init__(self, scope: str) -> None:
        self.scope = scope

    def has_permission(self, identity: Identity | None, consumer: NamespaceConsumer) -> bool:
        return identity is not None and identity.has_scope(self.scope)

    def __repr__(self) -> str:
        return f"HasScope({self.scope!r})"


class AnyOf(BasePermission):
    """Passes when any of its permissions does; a denial reports the first one's error."""

    def __init__(self, *permissions: Any) -> None:
        self.permissions = [as_permission(permission) for permission in permissions]
        self.error = self.permissions[0].error

    def has_permission(self, identity: Identity | None, consumer: NamespaceConsumer) -> bool:
        return any(p.has_permission(identity, consumer) for p in self.permissions)


def as_permission(spec: type[BasePermission] | BasePermission) -> BasePermission:
    return spec() if isinstance(spec, type) else spec


def denial(
    identity: Identity | None, permissions: Iterable[BasePermission], consumer: Any
) -> AckError | None:
    """The error for the first permission that denies; NOT_AUTHENTICATED when anonymous."""
    for permission in permissions:
        if not permission.has_permission(identity, consumer):
            return NotAuthenticated() if identity is None else permission.error()
    return None


async def authorize(consumer: NamespaceConsumer, auth: Any) -> None:
    """Authenticate a CONNECT and check the consumer's permissions; raises AckError to refuse.

    Sets `consumer.identity`. A consumer with no `permission_classes` is not authenticated.
    """
    permissions = [as_permission(spec) for spec in consumer.permission_classes]
    if not permissions:
        return
    try:
        consumer.identity = await authenticate(auth, consumer.scope)
    except AuthenticationFailed as exc:
        logger.debug("%s: connection refused: %s", consumer.namespace, exc)
        raise NotAuthenticated() from None
    error = denial(consumer.identity, permissions, consumer)
    if error is not None:
        logger.debug("%s: connection refused: %s", consumer.namespace, error.code)
        raise error

"""ApiConsumer: a NamespaceConsumer that answers every acked event with the contract's envelope."""

from __future__ import annotations

import logging
from typing import Any

from .envelope import AckError, InternalError, NotAuthenticated, NotFound, RateLimited
from .identity import Identity
from .namespace import NamespaceConsumer

logger = logging.getLogger(__name__)


class ApiConsumer(NamespaceConsumer):
    """Handlers return `success(...)` or raise an `AckError`; the client's ack gets the envelope.

    An event with no handler is acked NOT_FOUND; an unexpected exception INTERNAL_ERROR
    (logged). Events sent without a callback get no ack, as always.
    """

    async def on_event(self, event: str, *args: Any) -> Any:
        return NotFound(f"unknown event {event!r}").envelope()

    @property
    def authenticated_identity(self) -> Identity:
        """The socket's identity, for consumers whose permissions require one."""
        if self.identity is None:
            raise NotAuthenticated()
        return self.identity

    def on_throttled(self, event: str) -> Any:
        return RateLimited().envelope()

    async def handle_exception(self, event: str, exc: Exception) -> Any:
        if isinstance(exc, AckError):
            return exc.envelope()
        logger.exception("%s: handler for %r failed", self.namespace, event, exc_info=exc)
        return InternalError().envelope()

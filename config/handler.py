# ruff: noqa: SIM105  (ASGIHandler.handle is Django's, as Django writes it)
"""Django's ASGI handler, without two thread hops per request that have nothing to do.

Django 5.2 serves each request in its own ThreadSensitiveContext and sends `request_started`,
then closes the response (which sends `request_finished`), through sync_to_async: every
request starts a thread (and another to join it), and hops to it twice, even when its view is
async and its middleware runs on the loop (the REST emits). The receivers Django connects there
are its bookkeeping of the request's thread: the database connections (reset_queries,
close_old_connections), the caches, the urlconf.

Here they still run in the request's thread whenever the request started one: a sync view,
sync_to_async or database_sync_to_async ran for it, and its connections are closed in that
thread as Django closes them. When it started none, no sync code ran for the request and
there is nothing of it to close in a thread: the receivers run on the loop, provided they are
Django's own and the loop's thread holds no database connection (Django refuses them in async
code), so that they find nothing to close there either. Anything else takes Django's way.

Its middleware is Django's, each served by its variant in config.middleware (no thread hop).
"""

from __future__ import annotations

import asyncio
from typing import Any

from asgiref.sync import AsyncToSync, SyncToAsync, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.cache import close_caches
from django.core.exceptions import RequestAborted
from django.core.handlers import asgi
from django.core.handlers.asgi import get_script_prefix
from django.core.handlers.base import reset_urlconf
from django.db import close_old_connections, connections, reset_queries
from django.dispatch import Signal
from django.http.response import HttpResponseBase
from django.urls import set_script_prefix

from .middleware import ON_THE_LOOP

# the receivers Django connects to request_started and request_finished
BOOKKEEPING = frozenset({reset_queries, close_old_connections, close_caches, reset_urlconf})


def request_thread_started() -> bool:
    """Whether sync code ran for the current request: asgiref started the thread of its
    ThreadSensitiveContext, or the request is served under an AsyncToSync (its thread)."""
    try:
        if getattr(AsyncToSync.executors, "current", None) is not None:
            return True
        context = SyncToAsync.thread_sensitive_context.get(None)
        return context is None or context in SyncToAsync.context_to_thread_executor
    except AttributeError:  # another asgiref: assume a thread, as Django does
        return True


def bookkeeping_on_loop(signal: Signal, sender: Any) -> bool:
    """Whether `signal` can be sent on the loop for a request that started no thread."""
    if request_thread_started() or connections.all(initialized_only=True):
        return False
    sync_receivers, async_receivers = signal._live_receivers(sender)
    return not async_receivers and all(receiver in BOOKKEEPING for receiver in sync_receivers)


async def send_request_started(sender: Any, scope: dict[str, Any]) -> None:
    if bookkeeping_on_loop(signals.request_started, sender):
        signals.request_started.send(sender=sender, scope=scope)
    else:
        await signals.request_started.asend(sender=sender, scope=scope)


async def close_response(response: HttpResponseBase, sender: Any) -> None:
    """`response.close()`, which sends request_finished."""
    if bookkeeping_on_loop(signals.request_finished, sender):
        response.close()
    else:
        await sync_to_async(response.close)()


class ASGIHandler(asgi.ASGIHandler):
    def load_middleware(self, is_async: bool = False) -> None:
        """Django's, with each of Django's middleware in settings.MIDDLEWARE served by its
        variant in config.middleware. Done once, as the handler is made (at startup)."""
        names = settings.MIDDLEWARE
        settings.MIDDLEWARE = [ON_THE_LOOP.get(name, name) for name in names]
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = names

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        """Django 5.2's ASGIHandler.handle, but for the three lines marked `# here`
        (tests/config/test_handler.py checks the rest is still Django's)."""
        # Receive the HTTP request body as a stream object.
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        # Request is complete and can be served.
        set_script_prefix(get_script_prefix(scope))
        await send_request_started(self.__class__, scope)  # here
        # Get the request and check for basic issues.
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            await self.send_response(error_response, send)  # type: ignore[arg-type]
            await close_response(error_response, self.__class__)  # type: ignore[arg-type] # here
            return

        async def process_request(request, send):
            response = await self.run_get_response(request)
            try:
                await self.send_response(response, send)
            except asyncio.CancelledError:
                # Client disconnected during send_response (ignore exception).
                pass

            return response

        # Try to catch a disconnect while getting response.
        tasks = [
            # Check the status of these tasks and (optionally) terminate them
            # in this order. The listen_for_disconnect() task goes first
            # because it should not raise unexpected errors that would prevent
            # us from cancelling process_request().
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(request, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        # Now wait on both tasks (they may have both finished by now).
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    # Ignore client disconnects.
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                # Allow views to handle cancellation.
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    # Task re-raised the CancelledError as expected.
                    pass

        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            await signals.request_finished.asend(sender=self.__class__)
        else:
            await close_response(response, self.__class__)  # here

        body_file.close()

"""Django's middleware, served on the event loop: no thread hop per request.

In async mode Django's MiddlewareMixin runs every `process_request`, `process_view` and
`process_response` through `sync_to_async`: a thread hop each, about a dozen per request for
the stack in settings.MIDDLEWARE. The classes below are Django's own, with hooks that do no
I/O run on the loop; a hook that may reach the database (a session that was used, messages to
store, CSRF tokens kept in the session) still runs in a thread, as Django would run it.
The sync (WSGI, test client) path is Django's, unchanged.

settings.MIDDLEWARE keeps Django's names (its checks, `check --deploy` too, look for them);
config.handler.ASGIHandler serves each of them with its variant here (ON_THE_LOOP).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import middleware as auth
from django.contrib.messages import middleware as messages
from django.contrib.sessions import middleware as sessions
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware import clickjacking, common, csrf, security
from django.utils.deprecation import MiddlewareMixin


class OnTheLoop(MiddlewareMixin):
    """Runs the hooks on the event loop, unless `*_in_thread` says one may do I/O."""

    def __init__(self, get_response: Callable[..., Any]) -> None:
        super().__init__(get_response)
        view_hook = getattr(self, "process_view", None)
        if self.async_mode and view_hook is not None:
            # Django adapts a sync process_view with sync_to_async; a coroutine it awaits
            self._sync_process_view = view_hook
            vars(self)["process_view"] = self._process_view_async

    def request_in_thread(self, request: HttpRequest) -> bool:
        return False

    def view_in_thread(self, request: HttpRequest, view: Callable[..., Any]) -> bool:
        return False

    def response_in_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        process_request = getattr(self, "process_request", None)
        if process_request is not None:
            response = await _call(self.request_in_thread(request), process_request, request)
        response = response or await self.get_response(request)  # type: ignore[misc]
        process_response = getattr(self, "process_response", None)
        if process_response is not None:
            in_thread = self.response_in_thread(request, response)
            response = await _call(in_thread, process_response, request, response)
        return response

    async def _process_view_async(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponseBase | None:
        in_thread = self.view_in_thread(request, view)
        return await _call(in_thread, self._sync_process_view, request, view, args, kwargs)


async def _call(in_thread: bool, hook: Callable[..., Any], *args: Any) -> Any:
    if in_thread:
        return await sync_to_async(hook, thread_sensitive=True)(*args)
    return hook(*args)


class SecurityMiddleware(OnTheLoop, security.SecurityMiddleware):
    """Headers and redirects only."""


class CommonMiddleware(OnTheLoop, common.CommonMiddleware):
    """URL checks (the resolver) and Content-Length only."""


class XFrameOptionsMiddleware(OnTheLoop, clickjacking.XFrameOptionsMiddleware):
    """A header only."""


class AuthenticationMiddleware(OnTheLoop, auth.AuthenticationMiddleware):
    """Sets `request.user` lazily: nothing is read until a (sync) view asks."""


class SessionMiddleware(OnTheLoop, sessions.SessionMiddleware):
    """A lazy session store per request; a session that was used or must be saved is saved in
    a thread (the ORM)."""

    def response_in_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        session = getattr(request, "session", None)
        return session is None or bool(
            session.accessed or session.modified or settings.SESSION_SAVE_EVERY_REQUEST
        )


class MessageMiddleware(OnTheLoop, messages.MessageMiddleware):
    """Messages that were read or added are stored in a thread (the session may be)."""

    def response_in_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and bool(storage.used or storage.added_new)


class CsrfViewMiddleware(OnTheLoop, csrf.CsrfViewMiddleware):
    """Cookie checks on the loop. In a thread: everything when the token is kept in the session
    (CSRF_USE_SESSIONS), and the check of a view that is not exempt (it may parse a form body)."""

    def request_in_thread(self, request: HttpRequest) -> bool:
        return bool(settings.CSRF_USE_SESSIONS)

    def view_in_thread(self, request: HttpRequest, view: Callable[..., Any]) -> bool:
        return bool(settings.CSRF_USE_SESSIONS) or not getattr(view, "csrf_exempt", False)

    def response_in_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return bool(settings.CSRF_USE_SESSIONS)


# Django's middleware, by the name settings.MIDDLEWARE gives it: the variant that serves it
ON_THE_LOOP = {
    f"{django_class.__module__}.{django_class.__qualname__}": f"{__name__}.{variant.__qualname__}"
    for variant in (
        SecurityMiddleware,
        CommonMiddleware,
        XFrameOptionsMiddleware,
        AuthenticationMiddleware,
        SessionMiddleware,
        MessageMiddleware,
        CsrfViewMiddleware,
    )
    for django_class in variant.__bases__[1:]
}

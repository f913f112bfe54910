"""Counts and times every REST API request by route pattern (never by raw path)."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from realtime import metrics


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None else "unmatched"
        metrics.API_REQUESTS.labels(route, str(response.status_code)).inc()
        metrics.API_LATENCY.labels(route).observe(time.perf_counter() - started)
        return response

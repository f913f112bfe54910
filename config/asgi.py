"""ASGI config: one process serves WebSocket, long-polling and the REST API on one port."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

django_asgi_app = get_asgi_application()

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from realtime.asgi import build_application  # noqa: E402  (needs Django set up first)

# /static/ (the admin's and the API docs' assets) from the apps, with or without DEBUG
application = build_application(ASGIStaticFilesHandler(django_asgi_app))

"""ASGI config: one process serves WebSocket, long-polling and the REST API on one port."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

django.setup(set_prefix=False)  # as get_asgi_application() does, for Django's handler

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from config.handler import ASGIHandler  # noqa: E402  (no thread hop for a loop-only request)
from emit_api.fastpath import EmitFastPath  # noqa: E402
from realtime.asgi import build_application  # noqa: E402  (needs Django set up first)

django_asgi_app = ASGIHandler()
# /static/ (the admin's and the API docs' assets) from the apps, with or without DEBUG
# REST emits that will succeed are answered in front of Django (emit_api.fastpath), and by the
# uvicorn workers' HTTP protocol without the ASGI cycle (realtime.directhttp)
emit_fast_path = EmitFastPath(ASGIStaticFilesHandler(django_asgi_app))
application = build_application(emit_fast_path, direct_routes=[emit_fast_path])

"""Django app config for the realtime adapter."""

from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime (Socket.IO)"

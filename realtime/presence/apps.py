"""Django app config for the socket registry and presence."""

from django.apps import AppConfig


class PresenceConfig(AppConfig):
    name = "realtime.presence"
    label = "presence"
    verbose_name = "Presence and live sockets"
    default_auto_field = "django.db.models.BigAutoField"

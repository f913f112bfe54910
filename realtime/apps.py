"""Django app config for the realtime adapter."""

from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime (Socket.IO)"

    def ready(self) -> None:
        from .auth import check_settings

        check_settings()  # no server (and no command) runs without a JWT secret outside DEBUG

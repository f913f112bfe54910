"""Django app config for team conversations: hooks presence changes to `active_status`."""

from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = "Conversations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from realtime.presence.signals import presence_changed

        from .presence import on_presence_changed

        presence_changed.connect(on_presence_changed, dispatch_uid="conversations.active_status")

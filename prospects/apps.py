"""Django app config for prospect conversations (contacts, communications, live-chat visitors)."""

from django.apps import AppConfig


class ProspectsConfig(AppConfig):
    name = "prospects"
    verbose_name = "Prospects"
    default_auto_field = "django.db.models.BigAutoField"

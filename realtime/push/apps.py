"""Django app config for device tokens and push notifications."""

from django.apps import AppConfig


class PushConfig(AppConfig):
    name = "realtime.push"
    label = "push"
    verbose_name = "Push notifications"
    default_auto_field = "django.db.models.BigAutoField"

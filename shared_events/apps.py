from django.apps import AppConfig


class SharedEventsConfig(AppConfig):
    name = "shared_events"

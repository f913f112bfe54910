from django.apps import AppConfig


class EmitApiConfig(AppConfig):
    name = "emit_api"

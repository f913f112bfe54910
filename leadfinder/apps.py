from django.apps import AppConfig


class LeadfinderConfig(AppConfig):
    name = "leadfinder"

from django.apps import AppConfig


class DeskConfig(AppConfig):
    name = "apps.desk"
    label = "desk"
    verbose_name = "Compliance desk"

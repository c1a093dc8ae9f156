from django.apps import AppConfig


class Fix44Config(AppConfig):
    name = "plugins.fix44"
    label = "fix44"
    verbose_name = "FIX 4.4 broker"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class PaperBrokerConfig(AppConfig):
    name = "plugins.paper"
    label = "paper"
    verbose_name = "Paper broker"
    default_auto_field = "django.db.models.BigAutoField"

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "ourvoice.core"
    label = "core"
    verbose_name = "Core"

from django.apps import AppConfig


class InteractionsConfig(AppConfig):
    name = "ourvoice.interactions"
    label = "interactions"
    verbose_name = "Interactions"

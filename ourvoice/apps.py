from django.apps import AppConfig


class OurVoiceConfig(AppConfig):
    """The composition root as an app: wires the outbox routing table once Django is ready."""

    name = "ourvoice"
    label = "ourvoice"
    verbose_name = "OUR Voice"

    def ready(self) -> None:
        # Registers the dispatch tasks with Celery in every process (web, worker, beat).
        from ourvoice import events  # noqa: F401

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "ourvoice.notifications"
    label = "notifications"
    verbose_name = "Notifications"

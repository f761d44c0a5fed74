from django.apps import AppConfig


class MastodonApiConfig(AppConfig):
    name = "ourvoice.api.mastodon"
    label = "mastodon_api"
    verbose_name = "Mastodon client API"

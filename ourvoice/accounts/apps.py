from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "ourvoice.accounts"
    label = "accounts"
    verbose_name = "Accounts"

from django.apps import AppConfig


class PostsConfig(AppConfig):
    name = "ourvoice.posts"
    label = "posts"
    verbose_name = "Posts"

"""Federation routes: inbox (included from ourvoice/urls.py, before the discovery routes)."""

from django.urls import path

from federation.views.inbox import inbox

urlpatterns = [
    path("inbox", inbox, name="federation-shared-inbox"),
    path("actor/inbox", inbox, name="federation-instance-inbox"),
    path("users/<str:username>/inbox", inbox, name="federation-user-inbox"),
]

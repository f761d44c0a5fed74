"""Public moderation routes (included from ourvoice/urls.py before the Mastodon catch-all).

Every path here is one that moderation.links builds.
"""

from django.urls import path

from moderation import views

urlpatterns = [
    path("transparency", views.transparency_index, name="transparency"),
    path("transparency/cases/<int:case_id>", views.transparency_case, name="transparency-case"),
    path("mod/decisions/<int:case_id>", views.decision, name="moderation-decision"),
    path("mod/cases/<int:case_id>", views.case, name="moderation-case"),
]

"""URL configuration: mounts admin, health, and (as they grow) federation and the APIs."""

from django.contrib import admin
from django.urls import path

from ourvoice import views

admin.site.site_header = "OUR Voice administration"
admin.site.site_title = "OUR Voice admin"

urlpatterns = [
    path("health", views.health, name="health"),
    path("admin/", admin.site.urls),
]

"""Root URLs: the admin, the health probe, and (later) the versioned API."""

from django.contrib import admin
from django.urls import path

from apps.core.views import health

admin.site.site_header = "Back office"
admin.site.site_title = "Back office"
admin.site.index_title = "Ledger, accounts and compliance"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
]

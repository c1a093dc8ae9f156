"""Root URLs: the admin, the health probe, the versioned API, its schema and docs."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.core.views import health

admin.site.site_header = "Back office"
admin.site.site_title = "Back office"
admin.site.index_title = "Ledger, accounts and compliance"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

handler404 = "apps.core.api.exception_handler.not_found"
handler500 = "apps.core.api.exception_handler.server_error"

"""Root URLs: the admin, the health probe, the versioned API, its schema and docs."""

from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.core.views import health
from apps.monitoring import views as monitoring

admin.site.site_header = "Back office"
admin.site.site_title = "Back office"
admin.site.index_title = "Ledger, accounts and compliance"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("health/live", monitoring.live, name="health-live"),
    path("health/ready", monitoring.ready, name="health-ready"),
    path("metrics", monitoring.metrics, name="metrics"),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI loads from its CDN and starts with an inline script and style: allowed on this page only.
    path(
        "api/docs/",
        csp_update(
            {
                "script-src": ["https://cdn.jsdelivr.net", "'unsafe-inline'"],
                "style-src": ["https://cdn.jsdelivr.net", "'unsafe-inline'"],
                "img-src": ["https://cdn.jsdelivr.net", "data:"],
            }
        )(SpectacularSwaggerView.as_view(url_name="schema")),
        name="swagger-ui",
    ),
]

handler404 = "apps.core.api.exception_handler.not_found"
handler500 = "apps.core.api.exception_handler.server_error"

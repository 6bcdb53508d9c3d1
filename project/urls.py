from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.core.login import LoginView
from project.health import healthz
from project.home import home

admin.site.site_header = "Resultdeck administration"
admin.site.site_title = "Resultdeck admin"

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("project.api_urls")),
    path("blocks/", include("apps.blocks.urls")),
    path("prefect-servers/", include("apps.prefect_servers.urls")),
    path("", include("apps.results.urls")),
    path("", include("apps.flows.urls")),
]

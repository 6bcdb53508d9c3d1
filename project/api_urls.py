"""Every API route, in one router, so /api/ lists them and the schema covers them."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from apps.blocks import api as blocks_api
from apps.core.login import obtain_auth_token
from apps.flows import api as flows_api
from apps.prefect_servers import api as prefect_servers_api
from apps.results import api as results_api

router = DefaultRouter()
for app_api in (blocks_api, results_api, flows_api, prefect_servers_api):
    app_api.register(router)

urlpatterns = [
    path("token/", obtain_auth_token, name="api-token"),
    *getattr(results_api, "extra_urlpatterns", []),
    *getattr(flows_api, "extra_urlpatterns", []),
    *getattr(blocks_api, "extra_urlpatterns", []),
    *router.urls,
]

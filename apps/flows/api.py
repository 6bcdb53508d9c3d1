"""The API routes of the flows app, added to the project's single router."""

from django.urls import path
from rest_framework.routers import DefaultRouter

from .api_flows import FlowViewSet
from .api_runs import FlowRunViewSet
from .api_workers import WorkersView

extra_urlpatterns = [path("workers/", WorkersView.as_view(), name="api-workers")]


def register(router: DefaultRouter) -> None:
    router.register("flows", FlowViewSet, basename="flow")
    router.register("runs", FlowRunViewSet, basename="flow-run")

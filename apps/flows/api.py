"""The API routes of the flows app, added to the project's single router."""

from rest_framework.routers import DefaultRouter

from .api_flows import FlowViewSet
from .api_runs import FlowRunViewSet


def register(router: DefaultRouter) -> None:
    router.register("flows", FlowViewSet, basename="flow")
    router.register("runs", FlowRunViewSet, basename="flow-run")

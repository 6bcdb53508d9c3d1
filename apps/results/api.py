"""The API routes of the results app, added to the project's single router."""

from rest_framework.routers import DefaultRouter

from .api_results import ResultReferenceViewSet
from .api_serializer_configs import SerializerConfigViewSet


def register(router: DefaultRouter) -> None:
    router.register("serializers", SerializerConfigViewSet, basename="serializer-config")
    router.register("results", ResultReferenceViewSet, basename="result")

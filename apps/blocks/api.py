"""API views of the blocks app; `register` adds them to the project's single router."""

from rest_framework.routers import DefaultRouter


def register(router: DefaultRouter) -> None:
    pass

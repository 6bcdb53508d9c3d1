from django.urls import path

from . import views_serializers

app_name = "results"

urlpatterns: list = [
    path("serializers/", views_serializers.serializer_list, name="serializer-list"),
    path("serializers/new/", views_serializers.serializer_create, name="serializer-create"),
    path("serializers/<int:pk>/edit/", views_serializers.serializer_update, name="serializer-update"),
    path("serializers/<int:pk>/delete/", views_serializers.serializer_delete, name="serializer-delete"),
]

from django.urls import path

from . import views

app_name = "blocks"

urlpatterns = [
    path("", views.block_list, name="block-list"),
    path("new/", views.block_create, name="block-create"),
    path("<str:block_type>/<str:name>/", views.block_detail, name="block-detail"),
    path("<str:block_type>/<str:name>/edit/", views.block_update, name="block-update"),
    path("<str:block_type>/<str:name>/test/", views.block_test, name="block-test"),
    path("<str:block_type>/<str:name>/delete/", views.block_delete, name="block-delete"),
]

from django.urls import path

from . import views

app_name = "prefect_servers"

urlpatterns = [
    path("", views.connection_list, name="connection-list"),
    path("new/", views.connection_create, name="connection-create"),
    path("runs/<uuid:pk>/states/", views.run_states, name="run-states"),
    path("mappings/<int:pk>/", views.mapping_update, name="mapping-update"),
    path("mappings/<int:pk>/delete/", views.mapping_delete, name="mapping-delete"),
    path("<str:name>/", views.connection_detail, name="connection-detail"),
    path("<str:name>/edit/", views.connection_update, name="connection-update"),
    path("<str:name>/test/", views.connection_test, name="connection-test"),
    path("<str:name>/sync/", views.connection_sync, name="connection-sync"),
    path("<str:name>/mappings/", views.mapping_create, name="mapping-create"),
]

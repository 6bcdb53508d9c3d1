from django.urls import path

from . import views

app_name = "flows"

urlpatterns = [
    path("flows/", views.flow_list, name="flow-list"),
    path("flows/<str:name>/run", views.flow_run, name="flow-run"),
    path("runs/", views.run_list, name="run-list"),
    path("runs/<uuid:pk>/", views.run_detail, name="run-detail"),
]

from django.urls import path

from . import views, views_runs, views_workers

app_name = "flows"

urlpatterns = [
    path("flows/", views.flow_list, name="flow-list"),
    path("flows/<str:name>/run", views.flow_run, name="flow-run"),
    path("runs/", views_runs.run_list, name="run-list"),
    path("runs/<uuid:pk>/", views_runs.run_detail, name="run-detail"),
    path("workers/", views_workers.worker_list, name="worker-list"),
]

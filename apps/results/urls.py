from django.urls import path

from . import views, views_cleanup, views_serializers

app_name = "results"

urlpatterns: list = [
    path("results/", views.result_list, name="result-list"),
    path("results/selection/", views.result_selection, name="result-selection"),
    path("results/<int:pk>/", views.result_detail, name="result-detail"),
    path("results/<int:pk>/raw/", views.result_raw, name="result-raw"),
    path("results/<int:pk>/decode/", views.result_decode, name="result-decode"),
    path("results/<int:pk>/expiration/", views_cleanup.result_expiration, name="result-expiration"),
    path("results/expiration/", views_cleanup.expiration_bulk, name="expiration-bulk"),
    path("results/delete/", views_cleanup.results_delete, name="results-delete"),
    path("results/expiring/", views_cleanup.results_expiring, name="results-expiring"),
    path("results/cleanup/", views_cleanup.cleanup_overview, name="cleanup"),
    path("results/cleanup/purge/", views_cleanup.purge_expired_start, name="cleanup-purge"),
    path("results/cleanup/jobs/<int:pk>/", views_cleanup.cleanup_job, name="cleanup-job"),
    path("results/cleanup/policies/", views_cleanup.policy_save, name="policy-save"),
    path("results/cleanup/policies/<int:pk>/delete/", views_cleanup.policy_delete, name="policy-delete"),
    path("results/cleanup/policies/<int:pk>/apply/", views_cleanup.policy_apply, name="policy-apply"),
    path("results/cleanup/index/", views_cleanup.block_index_start, name="cleanup-index"),
    path("results/cleanup/orphans/", views_cleanup.orphan_scan_start, name="cleanup-orphans"),
    path("results/cleanup/orphans/clean/", views_cleanup.orphan_clean_start, name="cleanup-orphans-clean"),
    path("serializers/", views_serializers.serializer_list, name="serializer-list"),
    path("serializers/new/", views_serializers.serializer_create, name="serializer-create"),
    path("serializers/<int:pk>/edit/", views_serializers.serializer_update, name="serializer-update"),
    path("serializers/<int:pk>/delete/", views_serializers.serializer_delete, name="serializer-delete"),
]

"""The small things on the results pages: download names, who wrote a file, the decode button, filter
errors, API 404s."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.urls import reverse

from apps.results.models import ResultReference, SerializerConfig
from tests.dashboard_data import raw_file_result, stored_result

pytestmark = pytest.mark.django_db


def detail(client, reference: ResultReference) -> str:
    response = client.get(reverse("results:result-detail", args=[reference.pk]))
    assert response.status_code == 200
    return response.content.decode()


def download_name(client, reference: ResultReference) -> str:
    response = client.get(reverse("results:result-raw", args=[reference.pk]))
    assert response.status_code == 200
    return response["Content-Disposition"].removeprefix('attachment; filename="').removesuffix('"')


def test_a_record_downloads_as_json_and_a_raw_pickle_as_pickle(viewer_client, tmp_path):
    record = stored_result(tmp_path, {"n": 1}, serializer="pickle", key="abc123")
    raw_pickle = raw_file_result(tmp_path, b"\x80\x05N.", key="def456", layout="v3-raw")
    raw_other = raw_file_result(tmp_path, b"\x00", key="ghi789", layout="v3-raw")
    ResultReference.objects.filter(pk=raw_other.pk).update(serializer_type="compressed/pickle")
    raw_other.refresh_from_db()
    assert download_name(viewer_client, record) == "abc123.json"
    assert download_name(viewer_client, raw_pickle) == "def456.pickle"
    assert download_name(viewer_client, raw_other) == "ghi789.bin"


def test_our_own_files_say_they_were_written_by_resultdeck(viewer_client, tmp_path):
    html = detail(viewer_client, stored_result(tmp_path, [1]))
    assert "Written by</dt><dd>Resultdeck 0.1.0</dd>" in html
    assert "resultdeck-0.1.0" not in html


def test_json_results_have_no_decode_button_pickles_do(operator_client, tmp_path):
    assert "Decode in sandbox" not in detail(
        operator_client, stored_result(tmp_path, {"a": 1}, serializer="json")
    )
    assert "Decode in sandbox" in detail(
        operator_client, stored_result(tmp_path, {"a": 1}, serializer="pickle")
    )


def test_every_page_links_the_favicon_and_it_is_served(viewer_client, tmp_path):
    html = viewer_client.get(reverse("results:result-list")).content.decode()
    assert '<link rel="icon" type="image/svg+xml" href="/static/img/favicon.svg">' in html
    assert (settings.BASE_DIR / "static" / "img" / "favicon.svg").read_text().startswith("<svg")


def test_an_api_404_does_not_name_the_model(viewer_client):
    for url in ("/api/results/987654/", "/api/runs/00000000-0000-0000-0000-000000000000/"):
        response = viewer_client.get(url)
        assert (response.status_code, response.json()) == (404, {"detail": "Not found."}), url


@pytest.mark.parametrize(("url", "target"), [("/results/", "result-table"), ("/runs/", "run-table")])
def test_an_invalid_filter_shows_its_error_beside_the_filter_also_when_htmx_swaps_the_table(
    viewer_client, url, target
):
    error = f'<small class="error filter-error" id="{target}-error-created_after"'
    page = viewer_client.get(url, {"created_after": "not-a-date"}).content.decode()
    assert f"{error}>Enter a valid date.</small>" in page
    swapped = viewer_client.get(
        url, {"created_after": "not-a-date"}, headers={"HX-Request": "true", "HX-Target": target}
    ).content.decode()
    assert f'{error} hx-swap-oob="true">Enter a valid date.</small>' in swapped
    cleared = viewer_client.get(url, headers={"HX-Request": "true", "HX-Target": target}).content.decode()
    assert f'{error} hx-swap-oob="true"></small>' in cleared


def test_the_serializers_page_example_names_a_config_that_exists_and_resolves(viewer_client):
    from apps.results.resolve import serializer_resolve

    page = viewer_client.get(reverse("results:serializer-list")).content.decode()
    example = re.search(r'<code class="example">@task\(result_serializer="([^"]+)"\)</code>', page)
    assert example, page
    name = example.group(1)
    assert SerializerConfig.objects.filter(name=name, builtin=True).exists()
    assert serializer_resolve(spec=name) is not None

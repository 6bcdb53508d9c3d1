"""Pages render moments in the viewer's zone, named by the browser's cookie, else in TIME_ZONE."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from apps.blocks import services
from apps.blocks.models import StorageBlock
from apps.core.time_zone import TIME_ZONE_COOKIE, time_zone_named

pytestmark = pytest.mark.django_db

MOMENT = dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.UTC)


PAGE = "/blocks/local-file-system/scratch/"


@pytest.fixture
def block(tmp_path):
    storage_block = services.block_create(
        block_type="local-file-system", name="scratch", settings={"basepath": str(tmp_path)}
    )
    StorageBlock.objects.filter(pk=storage_block.pk).update(created_at=MOMENT)
    return storage_block


def test_a_known_zone_name_is_accepted_and_anything_else_refused():
    assert str(time_zone_named("Asia/Tokyo")) == "Asia/Tokyo"
    for name in ("", "Mars/Olympus", "../../etc/passwd", "/etc/localtime", "x" * 200):
        assert time_zone_named(name) is None


def test_the_page_reads_in_the_zone_the_browser_names(viewer_client, block, settings):
    settings.TIME_ZONE = "UTC"
    viewer_client.cookies[TIME_ZONE_COOKIE] = "Asia/Tokyo"
    html = viewer_client.get(PAGE).content.decode()
    assert "2025-07-01 21:00 JST" in html
    assert 'datetime="2025-07-01T21:00:00+09:00"' in html


def test_without_the_cookie_or_with_a_bad_one_the_page_reads_in_time_zone(viewer_client, block, settings):
    settings.TIME_ZONE = "Europe/Paris"
    assert "2025-07-01 14:00 CEST" in viewer_client.get(PAGE).content.decode()
    viewer_client.cookies[TIME_ZONE_COOKIE] = "Nowhere/City"
    assert "2025-07-01 14:00 CEST" in viewer_client.get(PAGE).content.decode()


def test_the_zone_does_not_outlive_its_request(viewer_client, block):
    viewer_client.cookies[TIME_ZONE_COOKIE] = "Asia/Tokyo"
    viewer_client.get(PAGE)
    assert timezone.get_current_timezone_name() != "Asia/Tokyo"

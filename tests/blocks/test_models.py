"""StorageBlock: slugs, lookups by slug, and the filesystem a row stands for."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from apps.blocks import services
from apps.blocks.filesystems import S3, LocalFileSystem
from apps.blocks.models import StorageBlock

pytestmark = pytest.mark.django_db


def test_the_slug_is_type_slash_name(tmp_path):
    block = services.block_create(
        block_type="local-file-system", name="scratch", settings={"basepath": str(tmp_path)}
    )
    assert block.slug == "local-file-system/scratch"
    assert str(block) == "local-file-system/scratch"
    assert StorageBlock.objects.get_by_slug("local-file-system/scratch") == block


@pytest.mark.parametrize(
    ("slug", "message"),
    [("s3", "is not a block slug: expected TYPE/NAME"), ("s3/missing", "no storage block 's3/missing'")],
)
def test_get_by_slug_says_what_is_wrong(slug, message):
    with pytest.raises(StorageBlock.DoesNotExist, match=message):
        StorageBlock.objects.get_by_slug(slug)


def test_names_are_unique_per_type_but_may_repeat_across_types(tmp_path, s3_settings):
    services.block_create(block_type="local-file-system", name="prod", settings={"basepath": str(tmp_path)})
    services.block_create(
        block_type="s3",
        name="prod",
        settings={
            "bucket_path": "bucket-a",
            "endpoint_url": s3_settings["endpoint_url"],
            "use_environment_credentials": True,
        },
    )
    with pytest.raises(IntegrityError):
        StorageBlock.objects.create(block_type="s3", name="prod")


@pytest.mark.parametrize("name", ["Prod", "prod_results", "-prod", "prod--x", "prod results"])
def test_names_are_lowercase_letters_digits_and_single_dashes(name):
    with pytest.raises(ValidationError, match="lowercase letters, digits and single dashes"):
        StorageBlock(block_type="s3", name=name).full_clean()


def test_filesystem_rebuilds_the_configured_class_with_its_secret(s3_block_settings):
    block = services.block_create(block_type="s3", name="demo", settings=s3_block_settings)
    filesystem = block.filesystem()
    assert isinstance(filesystem, S3)
    assert filesystem.aws_secret_access_key == s3_block_settings["aws_secret_access_key"]
    assert filesystem.bucket_path == s3_block_settings["bucket_path"]
    assert filesystem._block_document_id == block.pk
    assert block.secret_paths() == ["aws_secret_access_key"]


def test_filesystem_changes_nothing_in_the_database(tmp_path):
    block = services.block_create(
        block_type="local-file-system", name="scratch", settings={"basepath": str(tmp_path)}
    )
    before = StorageBlock.objects.values().get(pk=block.pk)
    assert isinstance(block.filesystem(), LocalFileSystem)
    assert StorageBlock.objects.values().get(pk=block.pk) == before


def test_points_to_shows_the_location_without_credentials(s3_block_settings, tmp_path):
    block = services.block_create(block_type="s3", name="demo", settings=s3_block_settings)
    assert block.points_to.startswith(f"s3://{s3_block_settings['bucket_path']} at 127.0.0.1:")
    assert s3_block_settings["aws_access_key_id"] not in block.points_to
    local = services.block_create(
        block_type="local-file-system", name="l", settings={"basepath": str(tmp_path)}
    )
    assert local.points_to == str(tmp_path)

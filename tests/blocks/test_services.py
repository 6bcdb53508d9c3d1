"""Block services: validation, secrets kept across edits, save/load from code, delete, test, usage."""

import http.server
import logging
import os
import socket
import subprocess
import sys
import threading
import uuid

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from apps.blocks import sdk, services
from apps.blocks.filesystems import S3, SECRET_MASK, Block, LocalFileSystem, RemoteFileSystem
from apps.blocks.models import StorageBlock
from apps.blocks.secrets import secrets_decrypt
from apps.results import block_removal
from apps.results.models import ResultReference

pytestmark = pytest.mark.django_db


def reference_create(block, key, *, size=10, **fields):
    return ResultReference.objects.create(
        block=block,
        storage_location=block.filesystem().resolve_path("x").rsplit("/", 1)[0] if block else "",
        key=key,
        size_bytes=size,
        **fields,
    )


# -- settings split and merge ----------------------------------------------------------------------


def test_s3_secrets_are_split_from_the_readable_settings():
    public, secret = services.settings_split(
        block_type="s3",
        settings={
            "bucket_path": "b/p",
            "aws_access_key_id": "AKIA",
            "aws_secret_access_key": "s3cr3t",
            "aws_session_token": None,
        },
    )
    assert public == {"bucket_path": "b/p", "aws_access_key_id": "AKIA", "aws_session_token": None}
    assert secret == {"aws_secret_access_key": "s3cr3t"}
    assert services.settings_merge(public, secret)["aws_secret_access_key"] == "s3cr3t"


def test_fsspec_options_are_secret_as_a_whole():
    options = {
        "anon": False,
        "secret": "x1",
        "client_kwargs": {"endpoint_url": "http://h", "aws_secret_access_key": "x2"},
    }
    public, secret = services.settings_split(
        block_type="remote-file-system", settings={"basepath": "s3://b/d", "settings": options}
    )
    assert public == {"basepath": "s3://b/d"}
    assert secret == {"settings": options}
    assert services.settings_merge(public, secret) == {"basepath": "s3://b/d", "settings": options}
    assert services.secret_paths(secret) == [
        "settings.anon",
        "settings.client_kwargs.aws_secret_access_key",
        "settings.client_kwargs.endpoint_url",
        "settings.secret",
    ]


# -- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "field", "message"),
    [
        (
            {"bucket_path": "Bad_Bucket/x", "use_environment_credentials": True, "region_name": "eu-west-1"},
            "bucket_path",
            "invalid bucket name 'Bad_Bucket'",
        ),
        ({"bucket_path": "", "use_environment_credentials": True}, "bucket_path", "the bucket path is empty"),
        (
            {"bucket_path": "good-bucket", "use_environment_credentials": True},
            "region_name",
            "the region is missing",
        ),
        (
            {"bucket_path": "good-bucket", "region_name": "Europe", "use_environment_credentials": True},
            "region_name",
            "not an AWS region name",
        ),
        (
            {"bucket_path": "good-bucket", "endpoint_url": "ftp://h", "use_environment_credentials": True},
            "endpoint_url",
            "must look like https://",
        ),
        (
            {"bucket_path": "good-bucket", "endpoint_url": "http://h", "aws_access_key_id": "AKIA"},
            "aws_secret_access_key",
            "give the secret access key",
        ),
        ({"bucket_path": "good-bucket", "endpoint_url": "http://h"}, "aws_access_key_id", "no credentials"),
    ],
)
def test_s3_settings_are_validated_with_a_message_for_the_field(settings, field, message):
    with pytest.raises(services.BlockValidationError, match=message) as caught:
        services.block_settings_validate(block_type="s3", settings=settings)
    assert caught.value.field == field


def test_a_basepath_under_a_file_is_not_writable(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(services.BlockValidationError, match=r"is not writable: .*a-file is a file") as caught:
        services.block_create(
            block_type="local-file-system", name="x", settings={"basepath": str(blocker / "sub")}
        )
    assert caught.value.field == "basepath"


def test_a_relative_basepath_is_refused_in_forms_but_allowed_from_code(tmp_path, monkeypatch):
    with pytest.raises(services.BlockValidationError, match="is relative: give an absolute path"):
        services.block_create(block_type="local-file-system", name="x", settings={"basepath": "results"})
    monkeypatch.chdir(tmp_path)
    block = services.block_save(LocalFileSystem(basepath="results"), name="relative")
    assert block.settings == {"basepath": "results"}


def test_unknown_types_names_and_settings_are_refused_clearly(tmp_path):
    with pytest.raises(services.BlockValidationError, match="unknown block type 'ftp'"):
        services.block_create(block_type="ftp", name="x", settings={})
    with pytest.raises(services.BlockValidationError, match="not a valid block name"):
        services.block_create(
            block_type="local-file-system", name="Bad Name", settings={"basepath": str(tmp_path)}
        )
    with pytest.raises(services.BlockValidationError, match=r"unexpected setting .* basepath"):
        services.block_create(
            block_type="local-file-system", name="x", settings={"basepath": str(tmp_path), "colour": 1}
        )
    with pytest.raises(services.BlockValidationError, match="must be a URL with a scheme"):
        services.block_create(block_type="remote-file-system", name="x", settings={"basepath": "no-scheme"})


def test_a_taken_name_is_refused(tmp_path):
    services.block_create(block_type="local-file-system", name="one", settings={"basepath": str(tmp_path)})
    with pytest.raises(services.BlockExistsError, match="already exists"):
        services.block_create(
            block_type="local-file-system", name="one", settings={"basepath": str(tmp_path)}
        )


# -- updates keep secrets --------------------------------------------------------------------------


def test_an_update_without_the_secret_keeps_it(s3_block_settings, make_user):
    block = services.block_create(
        block_type="s3", name="demo", settings=s3_block_settings, user=make_user("admin")
    )
    without_secret = {k: v for k, v in s3_block_settings.items() if k != "aws_secret_access_key"}
    for submitted in (
        without_secret,
        {**without_secret, "aws_secret_access_key": ""},
        {**without_secret, "aws_secret_access_key": SECRET_MASK},
    ):
        block = services.block_update(block=block, settings={**submitted, "region_name": "us-east-1"})
        assert block.filesystem().aws_secret_access_key == s3_block_settings["aws_secret_access_key"]
    assert block.settings["region_name"] == "us-east-1"


def test_an_update_with_a_new_secret_replaces_it_and_environment_credentials_drop_it(s3_block_settings):
    block = services.block_create(block_type="s3", name="demo", settings=s3_block_settings)
    block = services.block_update(
        block=block, settings={**s3_block_settings, "aws_secret_access_key": "new-one"}
    )
    assert block.filesystem().aws_secret_access_key == "new-one"
    block = services.block_update(
        block=block,
        settings={
            "bucket_path": s3_block_settings["bucket_path"],
            "use_environment_credentials": True,
            "endpoint_url": s3_block_settings["endpoint_url"],
        },
    )
    assert block.encrypted_secrets == ""
    assert block.filesystem().aws_secret_access_key is None


def test_remote_options_shown_masked_keep_their_stored_values():
    block = services.block_create(
        block_type="remote-file-system",
        name="mem",
        settings={"basepath": "memory://area", "settings": {"skip_instance_cache": True, "token": "tok-123"}},
    )
    masked = services.block_settings_masked(block)
    assert masked["settings"] == {"skip_instance_cache": SECRET_MASK, "token": SECRET_MASK}
    block = services.block_update(block=block, settings=masked)
    assert block.filesystem().settings == {"skip_instance_cache": True, "token": "tok-123"}
    with pytest.raises(services.BlockValidationError, match="no value is stored for it"):
        services.block_update(
            block=block, settings={"basepath": "memory://area", "settings": {"password": SECRET_MASK}}
        )


def test_a_rename_moves_the_slug(tmp_path):
    block = services.block_create(
        block_type="local-file-system", name="old", settings={"basepath": str(tmp_path)}
    )
    services.block_update(block=block, name="new", settings={"basepath": str(tmp_path)})
    assert StorageBlock.objects.get_by_slug("local-file-system/new").pk == block.pk


# -- code: save and load ---------------------------------------------------------------------------


def test_save_then_load_by_slug_as_the_seed_documents_do(s3_block_settings):
    block_id = sdk.filesystem_save(S3(**s3_block_settings), "demo")
    assert isinstance(block_id, uuid.UUID)
    loaded = sdk.filesystem_load(None, "s3/demo")
    assert loaded == S3(**s3_block_settings)
    assert loaded._block_document_id == block_id
    assert sdk.filesystem_load(S3, "demo") == loaded
    assert services.block_load("s3/demo").aws_secret_access_key == s3_block_settings["aws_secret_access_key"]


def test_the_classes_save_and_load_through_the_registered_database_layer(s3_block_settings, tmp_path):
    block_id = S3(**s3_block_settings).save("demo")
    assert StorageBlock.objects.get_by_slug("s3/demo").pk == block_id
    assert S3.load("demo") == S3(**s3_block_settings)
    LocalFileSystem(basepath=str(tmp_path)).save("here")
    assert Block.load("local-file-system/here").root == tmp_path.resolve()


def test_save_and_load_without_a_django_project_say_what_is_missing(tmp_path):
    script = (
        "from apps.blocks.filesystems import LocalFileSystem, BlockPersistenceUnavailableError\n"
        "import sys\n"
        "assert 'django.db' not in sys.modules, sorted(m for m in sys.modules if m.startswith('django'))\n"
        "try:\n"
        "    LocalFileSystem.load('nope')\n"
        "except BlockPersistenceUnavailableError as exc:\n"
        "    print(exc)\n"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "no_such_settings"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        cwd=django_settings.BASE_DIR,
    )
    assert result.returncode == 0, result.stderr
    assert "needs the Django project configured" in result.stdout
    assert "DJANGO_SETTINGS_MODULE=no_such_settings cannot be set up" in result.stdout


def test_saving_an_existing_name_needs_overwrite(s3_block_settings):
    sdk.filesystem_save(S3(**s3_block_settings), "demo")
    with pytest.raises(services.BlockExistsError, match="already exists; pass overwrite=True"):
        sdk.filesystem_save(S3(**{**s3_block_settings, "bucket_path": "other-bucket"}), "demo")
    sdk.filesystem_save(S3(**{**s3_block_settings, "bucket_path": "other-bucket"}), "demo", overwrite=True)
    assert sdk.filesystem_load(S3, "demo").bucket == "other-bucket"
    assert StorageBlock.objects.filter(block_type="s3").count() == 1


def test_load_refuses_a_slug_of_another_type_and_a_bare_name_without_a_class(tmp_path):
    sdk.filesystem_save(LocalFileSystem(basepath=str(tmp_path)), "here")
    with pytest.raises(sdk.BlockTypeMismatchError, match="names a local-file-system block"):
        sdk.filesystem_load(S3, "local-file-system/here")
    with pytest.raises(ValueError, match="not a block slug: use TYPE/NAME"):
        sdk.filesystem_load(None, "here")
    with pytest.raises(StorageBlock.DoesNotExist, match="no storage block 's3/nope'"):
        sdk.filesystem_load(S3, "nope")
    assert isinstance(
        sdk.filesystem_load(RemoteFileSystem.__mro__[1], "local-file-system/here"), LocalFileSystem
    )


def test_load_marks_the_block_used_and_block_filesystem_does_not(tmp_path):
    block = services.block_create(
        block_type="local-file-system", name="l", settings={"basepath": str(tmp_path)}
    )
    services.block_filesystem(block)
    block.refresh_from_db()
    assert block.last_used_at is None
    services.block_load("local-file-system/l")
    block.refresh_from_db()
    assert block.last_used_at is not None


# -- connection tests ------------------------------------------------------------------------------


def test_a_working_s3_block_passes_the_test(s3_block_settings, s3_client, s3_bucket):
    block = services.block_create(block_type="s3", name="demo", settings=s3_block_settings)
    result = services.block_test_connection(block=block, timeout=5)
    assert result.ok, result.message
    assert result.message.startswith("Connected")
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0  # the probe was removed


@pytest.fixture
def http_service():
    """An internal HTTP service that is not a storage: it answers every request with a page."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_any(self):
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(b"<html>intranet</html>")

        do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = do_any

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def _s3_test_message(s3_block_settings, **changes) -> str:
    filesystem = services.block_settings_validate(block_type="s3", settings={**s3_block_settings, **changes})
    result = services.block_test_connection(filesystem=filesystem, timeout=2)
    assert not result.ok
    return result.message


def test_every_failure_of_a_network_storage_reads_the_same(s3_block_settings, http_service, silent_endpoint):
    messages = {
        "wrong secret": _s3_test_message(s3_block_settings, aws_secret_access_key="wrong-secret"),
        "missing bucket": _s3_test_message(s3_block_settings, bucket_path=f"missing-{uuid.uuid4().hex[:8]}"),
        "http service": _s3_test_message(s3_block_settings, endpoint_url=http_service),
        "closed port": _s3_test_message(s3_block_settings, endpoint_url=_closed_port_url()),
        "silent": _s3_test_message(s3_block_settings, endpoint_url=silent_endpoint),
    }
    assert set(messages.values()) == {services.UNREACHABLE_MESSAGE}, messages
    remote = {
        endpoint: services.block_test_connection(
            filesystem=services.block_settings_validate(
                block_type="remote-file-system",
                settings={
                    "basepath": "s3://bucket/dir",
                    "settings": {"client_kwargs": {"endpoint_url": endpoint}, "skip_instance_cache": True},
                },
            ),
            timeout=2,
        ).message
        for endpoint in (http_service, _closed_port_url())
    }
    assert set(remote.values()) == {services.UNREACHABLE_MESSAGE}, remote


def test_a_failed_test_logs_its_cause_for_the_operator(s3_block_settings, caplog):
    caplog.set_level(logging.WARNING, logger="apps.blocks.services")
    _s3_test_message(s3_block_settings, aws_secret_access_key="wrong-secret")
    assert any("access denied" in record.getMessage().lower() for record in caplog.records)
    assert all("wrong-secret" not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    "basepath",
    [
        "file:///tmp/anywhere",
        "FILE:///tmp/x",
        "local:///tmp/x",
        "zip://a.csv::file:///tmp/a.zip",
        "simplecache::s3://b/d",
    ],
)
def test_remote_blocks_on_the_servers_own_disk_are_refused(basepath, tmp_path):
    with pytest.raises(services.BlockValidationError, match="use a local file system block") as caught:
        services.block_create(block_type="remote-file-system", name="disk", settings={"basepath": basepath})
    assert caught.value.field == "basepath"
    with pytest.raises(services.BlockValidationError, match="use a local file system block"):
        RemoteFileSystem(basepath="file://" + str(tmp_path)).save("disk")
    assert not StorageBlock.objects.exists()


def test_a_local_block_whose_folder_became_a_file_is_not_writable(tmp_path):
    block = services.block_create(
        block_type="local-file-system", name="l", settings={"basepath": str(tmp_path / "d")}
    )
    (tmp_path / "d").write_text("now a file")
    result = services.block_test_connection(block=block, timeout=2)
    assert not result.ok
    assert "not writable" in result.message


# -- usage and delete ------------------------------------------------------------------------------


def test_usage_counts_live_results_and_bytes_in_one_query(tmp_path, django_assert_num_queries):
    first = services.block_create(
        block_type="local-file-system", name="a", settings={"basepath": str(tmp_path / "a")}
    )
    second = services.block_create(
        block_type="local-file-system", name="b", settings={"basepath": str(tmp_path / "b")}
    )
    services.block_create(
        block_type="local-file-system", name="empty", settings={"basepath": str(tmp_path / "c")}
    )
    reference_create(first, "k1", size=100)
    reference_create(first, "k2", size=50)
    reference_create(first, "gone", size=1000, purged_at=timezone.now())
    reference_create(second, "k1", size=None)
    with django_assert_num_queries(1):
        usage = block_removal.blocks_usage()
    assert (usage[first.pk].results, usage[first.pk].bytes, usage[first.pk].purged) == (2, 150, 1)
    assert (usage[second.pk].results, usage[second.pk].bytes) == (1, 0)
    assert len(usage) == 2


def test_deleting_a_block_in_use_is_refused_with_the_count(tmp_path):
    block = services.block_create(
        block_type="local-file-system", name="a", settings={"basepath": str(tmp_path)}
    )
    reference_create(block, "k1")
    with pytest.raises(services.BlockInUseError, match="referenced by 1 result"):
        block_removal.block_delete_with_results(block=block)
    assert StorageBlock.objects.filter(pk=block.pk).exists()


def test_the_blocks_layer_refuses_to_delete_a_block_results_still_refer_to(tmp_path):
    block = services.block_create(
        block_type="local-file-system", name="a", settings={"basepath": str(tmp_path)}
    )
    reference_create(block, "k1")
    reference_create(block, "k2")
    with pytest.raises(services.BlockInUseError, match="referenced by 2 result"):
        services.block_delete(block=block)
    assert StorageBlock.objects.filter(pk=block.pk).exists()


def test_detaching_keeps_the_results_and_their_location(tmp_path):
    block = services.block_create(
        block_type="local-file-system", name="a", settings={"basepath": str(tmp_path)}
    )
    block.filesystem().write_path("k1", b"value")
    reference = reference_create(block, "k1")
    report = block_removal.block_delete_with_results(block=block, references="detach")
    assert report.detached == 1
    reference.refresh_from_db()
    assert reference.block is None and reference.purged_at is None
    assert reference.storage_location == str(tmp_path)
    assert (tmp_path / "k1").read_bytes() == b"value"


def test_purging_deletes_the_objects_tolerates_missing_ones_and_marks_the_references(
    s3_block_settings, s3_client, s3_bucket, make_user
):
    admin = make_user("admin")
    block = services.block_create(block_type="s3", name="demo", settings=s3_block_settings)
    filesystem = block.filesystem()
    for key in ("a", "b"):
        filesystem.write_path(key, b"12345")
        reference_create(block, key, size=5)
    reference_create(block, "never-written", size=7)
    report = block_removal.block_delete_with_results(block=block, references="purge", user=admin)
    assert (report.purge.deleted, report.purge.missing, report.purge.errors) == (2, 1, {})
    assert report.purge.bytes_freed == 10
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0
    assert not StorageBlock.objects.filter(pk=block.pk).exists()
    references = ResultReference.objects.all()
    assert all(r.purged_at is not None and r.purged_by == admin and r.block is None for r in references)


def test_a_purge_the_storage_refuses_keeps_the_block(s3_block_settings):
    block = services.block_create(block_type="s3", name="demo", settings=s3_block_settings)
    block.filesystem().write_path("a", b"x")
    reference_create(block, "a")
    # The stored secret went stale: deletes are refused.
    StorageBlock.objects.filter(pk=block.pk).update(
        encrypted_secrets=services.secrets_encrypt({"aws_secret_access_key": "stale"})
    )
    block.refresh_from_db()
    with pytest.raises(block_removal.BlockPurgeIncompleteError, match="was not deleted: 1 stored result"):
        block_removal.block_delete_with_results(block=block, references="purge")
    assert StorageBlock.objects.filter(pk=block.pk).exists()
    assert ResultReference.objects.get().purged_at is None


def test_secrets_are_encrypted_under_the_configured_key(s3_block_settings, settings):
    block = services.block_create(block_type="s3", name="demo", settings=s3_block_settings)
    assert secrets_decrypt(block.encrypted_secrets, keys=settings.RESULTDECK_SECRETS_KEYS) == {
        "aws_secret_access_key": s3_block_settings["aws_secret_access_key"]
    }

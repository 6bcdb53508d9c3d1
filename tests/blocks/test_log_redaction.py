"""An S3 session token never reaches the logs, even with botocore logging every request at DEBUG."""

import logging

import pytest

from apps.blocks.filesystems import S3, RemoteFileSystem, StorageError

TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE-session-token/with+base64=="


def _token_records(caplog) -> list[str]:
    return [record.name for record in caplog.records if TOKEN in record.getMessage()]


def test_s3_requests_logged_at_debug_carry_no_session_token(caplog, s3_block_settings):
    caplog.set_level(logging.DEBUG)
    filesystem = S3(**s3_block_settings, aws_session_token=TOKEN)
    with pytest.raises(StorageError):
        filesystem.write_path("probe", b"x")  # the server does not know the token: refused, but logged
    assert _token_records(caplog) == []
    redacted = [record for record in caplog.records if "x-amz-security-token" in record.getMessage().lower()]
    assert {record.name for record in redacted} >= {"botocore.auth", "botocore.endpoint"}
    assert all("[redacted]" in record.getMessage() for record in redacted)


def test_s3fs_requests_logged_at_debug_carry_no_session_token(caplog, s3_settings, s3_bucket):
    caplog.set_level(logging.DEBUG)
    filesystem = RemoteFileSystem(
        basepath=f"s3://{s3_bucket}/remote",
        settings={
            "key": s3_settings["aws_access_key_id"],
            "secret": s3_settings["aws_secret_access_key"],
            "token": TOKEN,
            "client_kwargs": {"endpoint_url": s3_settings["endpoint_url"], "region_name": "us-east-1"},
            "skip_instance_cache": True,
        },
    )
    with pytest.raises(StorageError):
        filesystem.write_path("probe", b"x")
    assert _token_records(caplog) == []
    assert any("x-amz-security-token" in record.getMessage().lower() for record in caplog.records)

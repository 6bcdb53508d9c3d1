"""Block credentials are encrypted at rest; keys rotate without downtime."""

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from apps.blocks import services
from apps.blocks.models import StorageBlock
from apps.blocks.secrets import (
    SecretsKeyError,
    secrets_decrypt,
    secrets_encrypt,
    secrets_fernet,
    secrets_rotate_all,
)

SECRET = "wJalrXUtnFEMI-very-secret-value"
OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def test_secrets_round_trip_and_the_token_does_not_contain_them():
    token = secrets_encrypt({"aws_secret_access_key": SECRET}, keys=[OLD_KEY])
    assert SECRET not in token
    assert secrets_decrypt(token, keys=[OLD_KEY]) == {"aws_secret_access_key": SECRET}


def test_no_secrets_are_stored_as_an_empty_string():
    assert secrets_encrypt({}, keys=[OLD_KEY]) == ""
    assert secrets_decrypt("", keys=[OLD_KEY]) == {}


def test_a_token_from_an_unknown_key_reports_the_key_problem():
    token = secrets_encrypt({"a": "b"}, keys=[OLD_KEY])
    with pytest.raises(
        SecretsKeyError, match="cannot be decrypted with the configured RESULTDECK_SECRETS_KEY"
    ):
        secrets_decrypt(token, keys=[NEW_KEY])


def test_every_key_decrypts_and_the_first_encrypts():
    old_token = secrets_encrypt({"a": "b"}, keys=[OLD_KEY])
    assert secrets_decrypt(old_token, keys=[NEW_KEY, OLD_KEY]) == {"a": "b"}
    new_token = secrets_encrypt({"a": "b"}, keys=[NEW_KEY, OLD_KEY])
    assert secrets_decrypt(new_token, keys=[NEW_KEY]) == {"a": "b"}
    with pytest.raises(SecretsKeyError):
        secrets_decrypt(new_token, keys=[OLD_KEY])


def test_an_invalid_key_is_a_configuration_error_that_does_not_echo_the_key():
    with pytest.raises(ImproperlyConfigured, match="entry 2 is not a valid Fernet key") as caught:
        secrets_fernet(keys=[NEW_KEY, "not-a-key-but-maybe-a-password"])
    assert "not-a-key-but-maybe-a-password" not in str(caught.value)


@pytest.fixture
def blocks_under_old_key(db, settings, tmp_path, s3_settings):
    settings.RESULTDECK_SECRETS_KEYS = [OLD_KEY]
    s3 = services.block_create(
        block_type="s3",
        name="rotating",
        settings={
            "bucket_path": "some-bucket",
            "endpoint_url": s3_settings["endpoint_url"],
            "aws_access_key_id": "AKIAEXAMPLE",
            "aws_secret_access_key": SECRET,
        },
    )
    local = services.block_create(
        block_type="local-file-system", name="plain", settings={"basepath": str(tmp_path)}
    )
    return s3, local


def test_rotation_re_encrypts_every_block_under_the_new_key(blocks_under_old_key, settings):
    s3, _ = blocks_under_old_key
    updated_at = s3.updated_at
    settings.RESULTDECK_SECRETS_KEYS = [NEW_KEY, OLD_KEY]
    rotated, undecryptable = secrets_rotate_all()
    assert (rotated, undecryptable) == (1, [])
    s3.refresh_from_db()
    assert secrets_decrypt(s3.encrypted_secrets, keys=[NEW_KEY]) == {"aws_secret_access_key": SECRET}
    assert s3.updated_at == updated_at
    settings.RESULTDECK_SECRETS_KEYS = [NEW_KEY]
    assert s3.filesystem().aws_secret_access_key == SECRET


def test_the_rotate_command_reports_and_a_dry_run_changes_nothing(blocks_under_old_key, settings, capsys):
    s3, _ = blocks_under_old_key
    before = s3.encrypted_secrets
    settings.RESULTDECK_SECRETS_KEYS = [NEW_KEY, OLD_KEY]
    call_command("rotate_secrets_key", "--dry-run")
    assert "every one decrypts" in capsys.readouterr().out
    s3.refresh_from_db()
    assert s3.encrypted_secrets == before
    call_command("rotate_secrets_key")
    assert "Re-encrypted the secrets of 1 block(s)" in capsys.readouterr().out
    s3.refresh_from_db()
    assert secrets_decrypt(s3.encrypted_secrets, keys=[NEW_KEY])


def test_rotation_without_the_old_key_changes_nothing_and_names_the_block(blocks_under_old_key, settings):
    s3, _ = blocks_under_old_key
    before = s3.encrypted_secrets
    settings.RESULTDECK_SECRETS_KEYS = [NEW_KEY]
    with pytest.raises(CommandError, match="s3/rotating"):
        call_command("rotate_secrets_key")
    s3.refresh_from_db()
    assert s3.encrypted_secrets == before


def test_the_secret_is_not_stored_in_plain_text(blocks_under_old_key):
    with connection.cursor() as cursor:
        cursor.execute("SELECT settings, encrypted_secrets FROM blocks_storageblock")
        rows = cursor.fetchall()
    assert len(rows) == 2
    assert all(SECRET not in str(value) for row in rows for value in row)
    assert StorageBlock.objects.get(name="rotating").settings["aws_access_key_id"] == "AKIAEXAMPLE"

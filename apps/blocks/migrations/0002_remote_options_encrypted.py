"""Move the fsspec options of remote blocks from the readable settings into the encrypted column.

Earlier versions encrypted only options whose names looked like credentials, so options such as
``headers.Authorization`` or ``connection_string`` were stored (and shown) in plain text.
"""

from django.db import migrations

from apps.blocks.secrets import secrets_decrypt, secrets_encrypt


def options_merge(plain: dict, secret: dict) -> dict:
    merged = dict(plain)
    for name, value in secret.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = options_merge(merged[name], value)
        else:
            merged[name] = value
    return merged


def remote_options_encrypt(apps, schema_editor):
    StorageBlock = apps.get_model("blocks", "StorageBlock")
    for block in StorageBlock.objects.filter(block_type="remote-file-system"):
        plain = block.settings.get("settings")
        if not plain:
            continue
        secrets = secrets_decrypt(block.encrypted_secrets)
        secrets["settings"] = options_merge(plain, secrets.get("settings") or {})
        settings = {name: value for name, value in block.settings.items() if name != "settings"}
        # update(), not save(): the settings mean the same, so updated_at stays as it was.
        StorageBlock.objects.filter(pk=block.pk).update(
            settings=settings, encrypted_secrets=secrets_encrypt(secrets)
        )


class Migration(migrations.Migration):
    dependencies = [("blocks", "0001_initial")]

    # Moving options back into plain text would undo a fix for a leak: going back leaves them encrypted,
    # which the earlier code reads too (it merges the encrypted part over the readable one).
    operations = [migrations.RunPython(remote_options_encrypt, migrations.RunPython.noop)]

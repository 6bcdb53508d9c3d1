"""Re-encrypt every storage block's secrets under the first key of RESULTDECK_SECRETS_KEY."""

from django.core.management.base import BaseCommand, CommandError

from apps.blocks.secrets import secrets_rotate_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every storage block's stored credentials with the first key of RESULTDECK_SECRETS_KEY "
        "(put the new key first, keep the old ones after it until this has run). See docs/secrets.md."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Check that every block decrypts; change nothing."
        )

    def handle(self, *args, dry_run: bool = False, **options):
        count, undecryptable = secrets_rotate_all(dry_run=dry_run)
        if undecryptable:
            raise CommandError(
                f"nothing was changed: no configured key decrypts the secrets of {', '.join(undecryptable)}. "
                "Add the key they were encrypted with to RESULTDECK_SECRETS_KEY (after the new one) "
                "and run again."
            )
        if dry_run:
            self.stdout.write(
                f"{count} block(s) with secrets; every one decrypts. Nothing was changed (--dry-run)."
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(f"Re-encrypted the secrets of {count} block(s) with the first key.")
            )

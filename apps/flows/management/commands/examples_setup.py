"""Create the S3 storage blocks the example flows name (s3/dev, s3/prod, s3/demo), on a local server.

scripts/dev.sh starts a SeaweedFS S3 server on 127.0.0.1 and runs this, so every flow in examples/
completes on a fresh machine. For each ``s3/<name>`` slug a registered flow names and no block has,
it creates the bucket ``<prefix>-<name>`` and the block pointing at it. Idempotent: an existing
block is left as it is (it may point at real storage), an existing bucket is reused.
"""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand, CommandError

from apps.blocks.models import BlockType, StorageBlock
from apps.blocks.services import block_create
from apps.flows.registry import flow_registry
from apps.flows.storage_check import storage_slug_of

# The slugs of the results guide's examples, created even when FLOW_MODULES leaves the examples out.
EXAMPLE_SLUGS = ("s3/demo", "s3/dev", "s3/prod")


def example_slugs() -> list[str]:
    """The S3 block slugs of the examples and of every registered flow."""
    slugs = set(EXAMPLE_SLUGS)
    slugs.update(slug for flow in flow_registry().values() if (slug := storage_slug_of(flow)))
    return sorted(slug for slug in slugs if slug.startswith(f"{BlockType.S3}/"))


class Command(BaseCommand):
    help = "Create the S3 buckets and storage blocks the example flows use (idempotent)."

    def add_arguments(self, parser):
        env = os.environ.get
        parser.add_argument(
            "--endpoint-url", default=env("EXAMPLES_S3_ENDPOINT_URL", "http://127.0.0.1:8333")
        )
        parser.add_argument("--access-key-id", default=env("EXAMPLES_S3_ACCESS_KEY_ID", "resultdeck-dev"))
        parser.add_argument(
            "--secret-access-key", default=env("EXAMPLES_S3_SECRET_ACCESS_KEY", "resultdeck-dev-secret")
        )
        parser.add_argument("--bucket-prefix", default=env("EXAMPLES_S3_BUCKET_PREFIX", "resultdeck"))

    def handle(self, *args, **options):
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError

        client = boto3.client(
            "s3",
            endpoint_url=options["endpoint_url"],
            aws_access_key_id=options["access_key_id"],
            aws_secret_access_key=options["secret_access_key"],
            region_name="us-east-1",
            config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 2}),
        )
        for slug in example_slugs():
            name = slug.partition("/")[2]
            if StorageBlock.objects.filter(block_type=BlockType.S3, name=name).exists():
                self.stdout.write(f"{slug}: exists, left as it is")
                continue
            bucket = f"{options['bucket_prefix']}-{name}"
            try:
                client.create_bucket(Bucket=bucket)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in (
                    "BucketAlreadyOwnedByYou",
                    "BucketAlreadyExists",
                ):
                    raise CommandError(f"cannot create bucket {bucket}: {exc}") from None
            except BotoCoreError as exc:
                raise CommandError(
                    f"the S3 server at {options['endpoint_url']} cannot be reached: {exc}"
                ) from None
            block_create(
                block_type=BlockType.S3,
                name=name,
                settings={
                    "bucket_path": f"{bucket}/results",
                    "endpoint_url": options["endpoint_url"],
                    "aws_access_key_id": options["access_key_id"],
                    "aws_secret_access_key": options["secret_access_key"],
                },
            )
            self.stdout.write(f"{slug}: created, in bucket {bucket} at {options['endpoint_url']}")

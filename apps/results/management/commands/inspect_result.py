"""`python manage.py inspect_result <path or URL>`: layout, metadata and a safe preview of one result file."""

import json

from django.core.management.base import BaseCommand, CommandError

from apps.results.preview.inspect import (
    DEFAULT_MAX_PREVIEW_BYTES,
    InspectError,
    inspect_report_text,
    result_inspect,
)


class Command(BaseCommand):
    help = (
        "Describe a stored result file (local path, file:// or s3:// URL) without unpickling it: "
        "layout, serializer, expiration, size and a preview of the value. S3 credentials come from "
        "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL or --endpoint-url)."
    )

    def add_arguments(self, parser):
        parser.add_argument("location", help="a path, file:///path or s3://bucket/key")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--endpoint-url", default=None, help="S3 endpoint (for S3-compatible servers)")
        parser.add_argument(
            "--max-bytes",
            type=int,
            default=DEFAULT_MAX_PREVIEW_BYTES,
            help=f"read at most this many bytes of the file (default {DEFAULT_MAX_PREVIEW_BYTES})",
        )

    def handle(self, *args, **options):
        try:
            report = result_inspect(
                location=options["location"],
                max_preview_bytes=options["max_bytes"],
                endpoint_url=options["endpoint_url"],
            )
        except InspectError as error:
            raise CommandError(str(error)) from error
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2, default=str))
        else:
            self.stdout.write(inspect_report_text(report))

"""Benchmark: purging expired results from S3 (the SeaweedFS test server), against a naive purge.

    eval "$(scripts/services.sh env)"; .venv/bin/python bench/purge.py [--count 20000] [--naive 2000]

Writes ``--count`` small objects with expired references, then runs ``expired_purge`` (claimed
batches of 1000, DeleteObjects, each key's presence checked first so missing objects are counted)
and measures objects per second end to end, database work included. The naive baseline deletes
``--naive`` objects one DeleteObject call at a time (the loop a script would write), in the same
run against the same server. Uses a scratch database on the server of $DATABASE_URL (suffix
``_purge``, dropped after) and a bucket of its own. ``--smoke``: 500 objects, 100 naive, seconds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from bench import data

TARGET_OBJECTS_PER_SECOND = 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--naive", type=int, default=2_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--smoke", action="store_true", help="500 objects, 100 naive, batches of 100")
    args = parser.parse_args()
    if args.smoke:
        args.count, args.naive, args.batch_size = 500, 100, 100
    name = data.scratch_name("purge")
    os.environ["DATABASE_URL"] = data.database_create(name=name)
    try:
        purge_measure(args)
    finally:
        from django.db import connection

        connection.close()
        data.database_drop(name=name)


def purge_measure(args: argparse.Namespace) -> None:
    import boto3
    import django

    django.setup()
    from django.utils import timezone

    from apps.blocks import services
    from apps.results.models import ResultReference
    from apps.results.purge import expired_purge

    s3 = {
        "endpoint_url": os.environ["TEST_S3_ENDPOINT_URL"],
        "aws_access_key_id": os.environ["TEST_S3_ACCESS_KEY_ID"],
        "aws_secret_access_key": os.environ["TEST_S3_SECRET_ACCESS_KEY"],
        "region_name": "us-east-1",
    }
    from botocore.config import Config

    # As many pooled connections as the writer threads below, so none is thrown away.
    client = boto3.client("s3", config=Config(max_pool_connections=32), **s3)
    bucket = f"bench-purge-{uuid.uuid4().hex[:10]}"
    client.create_bucket(Bucket=bucket)
    block = services.block_create(block_type="s3", name=f"bench-{uuid.uuid4().hex[:8]}", settings={
        "bucket_path": f"{bucket}/results", **s3,
    })  # fmt: skip
    try:
        keys = [f"r/{index:06d}" for index in range(args.count)]
        naive_keys = [f"naive/{index:06d}" for index in range(args.naive)]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=32) as pool:
            list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=f"results/{key}", Body=b"x" * 64),
                          keys + naive_keys))  # fmt: skip
        print(
            f"setup: wrote {len(keys) + len(naive_keys):,} objects in {time.perf_counter() - started:.1f} s"
        )
        expired = timezone.now() - dt.timedelta(days=1)
        ResultReference.objects.bulk_create(
            [
                ResultReference(block=block, storage_location=f"s3://{bucket}/results", key=key,
                                size_bytes=64, expiration=expired)
                for key in keys
            ],
            batch_size=5000,
        )  # fmt: skip

        started = time.perf_counter()
        for key in naive_keys:
            client.delete_object(Bucket=bucket, Key=f"results/{key}")
        naive_seconds = time.perf_counter() - started
        naive_rate = len(naive_keys) / naive_seconds

        started = time.perf_counter()
        report = expired_purge(block=block, batch_size=args.batch_size, source="bench")
        purge_seconds = time.perf_counter() - started
        purge_rate = report.deleted / purge_seconds

        left = client.list_objects_v2(Bucket=bucket, Prefix="results/r/").get("KeyCount", 0)
        assert report.deleted == args.count and report.purged == args.count and left == 0, (report, left)
        print(f"naive one-by-one DeleteObject: {len(naive_keys):>6,} objects in {naive_seconds:6.2f} s = "
              f"{naive_rate:8,.0f} objects/s")  # fmt: skip
        print(f"expired_purge (batches of {args.batch_size}): {report.deleted:>6,} objects in "
              f"{purge_seconds:6.2f} s = {purge_rate:8,.0f} objects/s")  # fmt: skip
        print(f"  {report.batches} batches, {report.bytes_freed:,} bytes freed, {report.missing} missing, "
              f"{len(report.errors)} errors")  # fmt: skip
        verdict = "met" if purge_rate >= TARGET_OBJECTS_PER_SECOND else "NOT met"
        print(f"speed-up over naive: {purge_rate / naive_rate:.1f}x; "
              f"target >= {TARGET_OBJECTS_PER_SECOND:,}/s: {verdict}")  # fmt: skip
    finally:
        ResultReference.objects.filter(block=block).delete()
        block.delete()
        paginator = client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if objects:
                client.delete_objects(Bucket=bucket, Delete={"Objects": objects})
        client.delete_bucket(Bucket=bucket)


if __name__ == "__main__":
    main()

"""Benchmark: previewing a 1 GB result must read its head only.

    eval "$(scripts/services.sh env)"; .venv/bin/python bench/preview.py
    .venv/bin/python bench/preview.py --local-only     # without the S3 server

Writes, streaming, a Prefect 3 result record of about 1 GB: a pickle of ``{"name": ..., "blob": <730 MB
of bytes>}`` base64-encoded into the record's ``result`` string. It is previewed with ``preview_build``
from a LocalFileSystem and from the SeaweedFS S3 server (TEST_S3_* variables). Each preview runs in a
fresh subprocess that reports the growth of its peak RSS (``ru_maxrss`` before and after), the
tracemalloc peak and the wall time. Targets: memory growth <= 64 MB, an answer within 2 s.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

MB = 1024 * 1024
TARGET_SIZE = 1024**3
SMOKE_SIZE = 8 * MB
TARGET_MEMORY_MB = 64
TARGET_SECONDS = 2.0
LINE_BYTES = 57  # base64.encodebytes puts 76 characters (57 bytes) on a line
CHUNK_LINES = 16384

MEASURE = r"""
import json, resource, sys, time, tracemalloc
sys.path.insert(0, sys.argv[1])
from apps.blocks.filesystems import LocalFileSystem, S3
from apps.results.preview import preview_build
settings = json.loads(sys.argv[2])
if settings["kind"] == "full-read":
    # The baseline: the whole file read once, streamed, as any decode of the full value must at least.
    started = time.perf_counter()
    total = 0
    with open(settings["path"], "rb") as stream:
        while chunk := stream.read(1 << 20):
            total += len(chunk)
    print(json.dumps({"elapsed_s": time.perf_counter() - started, "bytes_read": total}))
    sys.exit(0)
if settings["kind"] == "local":
    storage = LocalFileSystem(basepath=settings["root"])
else:
    storage = S3(
        bucket_path=settings["bucket"], aws_access_key_id=settings["key_id"],
        aws_secret_access_key=settings["secret"], endpoint_url=settings["endpoint"], region_name="us-east-1",
    )
    storage.size(settings["key"])  # connect once, so the client's set-up is not counted as preview memory
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
started = time.perf_counter()
preview = preview_build(fs=storage, key=settings["key"])
elapsed = time.perf_counter() - started
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
blob = preview.value["children"][-1] if preview.value and preview.value.get("children") else {}
print(json.dumps({"elapsed_s": elapsed, "rss_growth_mb": (rss_after - rss_before) / 1024,
                  "tracemalloc_peak_mb": peak / (1024 * 1024), "size": preview.size_bytes,
                  "bytes_read": preview.bytes_read, "layout": preview.layout, "format": preview.format,
                  "error": preview.error, "value_type": preview.value and preview.value["type"],
                  "blob_note": blob.get("note")}))
"""


def big_record_write(stream, *, target_size: int) -> int:
    """Stream a ~``target_size`` v3 record holding a pickled dict with one large bytes value."""
    metadata = {
        "storage_key": "bench/big-result",
        "expiration": None,
        "serializer": {"type": "pickle", "picklelib": "cloudpickle", "picklelib_version": None},
        "prefect_version": "3.9.1",
        "storage_block_id": None,
    }
    prefix = json.dumps({"metadata": metadata}, separators=(",", ":"))[:-1] + ',"result":"'
    blob_size = (target_size - len(prefix) - 64) * LINE_BYTES // (76 + 2) // LINE_BYTES * LINE_BYTES - 64
    pickle_head = b"\x80\x05}(\x8c\x04name\x8c\x03big\x8c\x04blob\x8e" + blob_size.to_bytes(
        8, "little"
    )  # PROTO 5, EMPTY_DICT, MARK, 'name': 'big', 'blob': BINBYTES8 <size>
    pickle_tail = b"u."  # SETITEMS, STOP
    written = stream.write(prefix.encode())
    pattern = os.urandom(LINE_BYTES * CHUNK_LINES)
    pending = pickle_head
    remaining = blob_size
    while remaining > 0 or pending:
        take = min(remaining, LINE_BYTES * CHUNK_LINES - len(pending))
        pending += pattern[:take]
        remaining -= take
        if remaining == 0:
            pending += pickle_tail
        whole = len(pending) if remaining == 0 else len(pending) // LINE_BYTES * LINE_BYTES
        encoded = base64.encodebytes(pending[:whole]).replace(b"\n", b"\\n")
        written += stream.write(encoded)
        pending = pending[whole:]
    written += stream.write(b'"}')
    return written


def measure(settings: dict) -> dict:
    output = subprocess.run(
        [sys.executable, "-c", MEASURE, str(PROJECT_ROOT), json.dumps(settings)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(output)


def report(name: str, result: dict, *, baseline: dict) -> bool:
    memory_ok = (
        result["rss_growth_mb"] <= TARGET_MEMORY_MB and result["tracemalloc_peak_mb"] <= TARGET_MEMORY_MB
    )
    time_ok = result["elapsed_s"] <= TARGET_SECONDS
    ok = memory_ok and time_ok and result["error"] is None
    print(
        f"{name:<6} size {result['size'] / MB:8.1f} MiB, read {result['bytes_read'] / MB:.1f} MiB | "
        f"RSS growth {result['rss_growth_mb']:6.1f} MB, "
        f"tracemalloc peak {result['tracemalloc_peak_mb']:5.1f} MB "
        f"[{'PASS' if memory_ok else 'FAIL'} <= {TARGET_MEMORY_MB} MB] | "
        f"{result['elapsed_s']:.3f} s [{'PASS' if time_ok else 'FAIL'} <= {TARGET_SECONDS:g} s] | "
        f"vs the full read: {result['elapsed_s'] / baseline['elapsed_s']:.3f}x the time, "
        f"{result['bytes_read'] / baseline['bytes_read']:.4f}x the bytes | "
        f"{result['layout']} {result['format']} {result['value_type']}: {result['blob_note']}"
        + (f" | error: {result['error']}" if result["error"] else "")
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local-only", action="store_true")
    parser.add_argument("--smoke", action="store_true", help=f"a {SMOKE_SIZE // MB} MiB record: seconds")
    arguments = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="resultdeck-bench-preview-") as root:
        key = "bench/big-result"
        path = Path(root) / key
        path.parent.mkdir(parents=True)
        with path.open("wb") as stream:
            size = big_record_write(stream, target_size=SMOKE_SIZE if arguments.smoke else TARGET_SIZE)
        print(f"wrote a {size / MB:.1f} MiB v3 record (a pickle with a bytes value) to {path}")
        baseline = measure({"kind": "full-read", "path": str(path)})
        print(
            f"{'full':<6} read of the whole file, streamed (the baseline): "
            f"{baseline['bytes_read'] / MB:.1f} MiB in {baseline['elapsed_s']:.3f} s"
        )
        ok &= report("local", measure({"kind": "local", "root": root, "key": key}), baseline=baseline)
        if not arguments.local_only:
            ok &= _s3_run(path, key, baseline=baseline)
    print("PASS" if ok else "FAIL")
    # Smoke sizes say nothing about speed: only a crash fails them.
    return 0 if ok or arguments.smoke else 1


def _s3_run(path: Path, key: str, *, baseline: dict) -> bool:
    import boto3

    endpoint = os.environ.get("TEST_S3_ENDPOINT_URL")
    if not endpoint:
        print('s3     skipped: TEST_S3_ENDPOINT_URL is not set (eval "$(scripts/services.sh env)")')
        return False
    key_id, secret = os.environ["TEST_S3_ACCESS_KEY_ID"], os.environ["TEST_S3_SECRET_ACCESS_KEY"]
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name="us-east-1",
    )
    bucket = f"bench-preview-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    try:
        client.upload_file(str(path), bucket, key)
        settings = {
            "kind": "s3",
            "bucket": bucket,
            "key": key,
            "key_id": key_id,
            "secret": secret,
            "endpoint": endpoint,
        }
        return report("s3", measure(settings), baseline=baseline)
    finally:
        client.delete_object(Bucket=bucket, Key=key)
        client.delete_bucket(Bucket=bucket)


if __name__ == "__main__":
    sys.exit(main())

"""Run inside a real Prefect venv (not Resultdeck's): flows whose results a sync must find.

PREFECT_API_URL=... python prefect_flows.py RESULTS_DIR DEFAULT_STORAGE_DIR

With RD_S3_ENDPOINT, RD_S3_KEY, RD_S3_SECRET and RD_S3_BUCKET set, a flow also keeps its results on
that S3 server: through prefect-aws's S3Bucket and AwsCredentials on 3.x, the built-in S3 block on
2.x (which names no endpoint, so the endpoint comes from the environment, as botocore reads it).
"""

import os
import sys

import prefect
from prefect import flow, task
from prefect.filesystems import LocalFileSystem

PREFECT_3 = prefect.__version__.startswith("3.")
RESULTS_DIR, DEFAULT_DIR = sys.argv[1], sys.argv[2]
S3_BUCKET = os.environ.get("RD_S3_BUCKET", "")
S3_FOLDER = "prefect3" if PREFECT_3 else "prefect2"  # one bucket serves both servers' flows
storage = LocalFileSystem(basepath=RESULTS_DIR)
storage.save("synced-results", overwrite=True)
storage = LocalFileSystem.load("synced-results")

if PREFECT_3:
    from prefect.cache_policies import INPUTS

    cached_options = {"cache_policy": INPUTS}
else:
    from prefect.tasks import task_input_hash

    cached_options = {"cache_key_fn": task_input_hash}


@task(persist_result=True, result_serializer="json", tags=["numbers"])
def add(x: int, y: int) -> dict:
    return {"sum": x + y, "inputs": [x, y]}


@task(persist_result=True)
def shout(word: str) -> str:
    return word.upper()


@task(persist_result=True)
def nothing() -> None:
    return None


@task(retries=1, retry_delay_seconds=0, persist_result=True)
def flaky(attempts: list) -> str:
    attempts.append(1)
    if len(attempts) < 2:
        raise ValueError("first attempt fails")
    return "second time lucky"


@task(persist_result=False)
def fails() -> None:
    raise RuntimeError("this task always fails")


@task(persist_result=True, result_serializer="compressed/pickle")
def squeezed(n: int) -> list:
    return [f"row-{i}" for i in range(n)]


@task(persist_result=True, result_serializer="compressed/json")
def squeezed_json(n: int) -> dict:
    return {"n": n, "squares": [i * i for i in range(n)]}


@task(persist_result=True, **cached_options)
def cached(n: int) -> dict:
    return {"cached": n * 10}


@flow(persist_result=True, result_storage=storage)
def child(word: str) -> str:
    return shout(word)


@flow(name="sync-me", persist_result=True, result_storage=storage, log_prints=False)
def parent(x: int = 2) -> dict:
    total = add(x, 3)
    loud = child("hello")
    flaky([])
    nothing()
    fails(return_state=True)  # a failed task, and the flow goes on
    squeezed(5)
    squeezed_json(4)
    cached(7)
    cached(7)  # the second call finds the first one's result: a Cached state
    return {"total": total, "loud": loud}


@task(persist_result=True)
def in_default_storage() -> list:
    return [1, 2, 3]


@flow(name="default-storage", persist_result=True)
def default_storage() -> list:
    return in_default_storage()


def s3_storage():
    endpoint, key, secret = os.environ["RD_S3_ENDPOINT"], os.environ["RD_S3_KEY"], os.environ["RD_S3_SECRET"]
    if PREFECT_3:
        from prefect_aws import AwsCredentials, S3Bucket
        from prefect_aws.client_parameters import AwsClientParameters

        credentials = AwsCredentials(
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            region_name="us-east-1",
            aws_client_parameters=AwsClientParameters(endpoint_url=endpoint),
        )
        credentials.save("seaweed-credentials", overwrite=True)
        S3Bucket(bucket_name=S3_BUCKET, bucket_folder=S3_FOLDER, credentials=credentials).save(
            "seaweed-results", overwrite=True
        )
        return S3Bucket.load("seaweed-results")
    from prefect.filesystems import S3

    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_DEFAULT_REGION="us-east-1")
    S3(bucket_path=f"{S3_BUCKET}/{S3_FOLDER}", aws_access_key_id=key, aws_secret_access_key=secret).save(
        "seaweed-results", overwrite=True
    )
    return S3.load("seaweed-results")


if S3_BUCKET:
    s3 = s3_storage()

    @task(persist_result=True, result_storage=s3, result_serializer="compressed/json")
    def on_s3(n: int) -> dict:
        return {"doubled": [i * 2 for i in range(n)]}

    @task(persist_result=True, result_storage=s3, **cached_options)
    def cached_on_s3(n: int) -> str:
        return f"kept on s3: {n}"

    @flow(name="s3-results", persist_result=True, result_storage=s3)
    def s3_results(n: int = 3) -> dict:
        cached_on_s3(n)
        return {"on_s3": on_s3(n), "again": cached_on_s3(n)}


if __name__ == "__main__":
    parent(x=4)
    default_storage()
    if S3_BUCKET:
        s3_results()

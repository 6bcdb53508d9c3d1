"""Run inside a real Prefect venv (not Resultdeck's): flows whose results a sync must find.

PREFECT_API_URL=... python prefect_flows.py RESULTS_DIR DEFAULT_STORAGE_DIR
"""

import sys

from prefect import flow, task
from prefect.filesystems import LocalFileSystem

RESULTS_DIR, DEFAULT_DIR = sys.argv[1], sys.argv[2]
storage = LocalFileSystem(basepath=RESULTS_DIR)
storage.save("synced-results", overwrite=True)
storage = LocalFileSystem.load("synced-results")


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
    return {"total": total, "loud": loud}


@task(persist_result=True)
def in_default_storage() -> list:
    return [1, 2, 3]


@flow(name="default-storage", persist_result=True)
def default_storage() -> list:
    return in_default_storage()


if __name__ == "__main__":
    parent(x=4)
    default_storage()

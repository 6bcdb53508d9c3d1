"""The basics every other case leans on: a flow's value, its state, a task's persisted record."""

from tests.compat.differential.case import FLOW_RECORDS, Case

CASES = [
    Case(
        id="flow-returns-a-value",
        code="""
from prefect import flow

@flow
def add(x, y):
    return x + y

def case():
    return raises(add, 1, 2)
""",
    ),
    Case(
        id="flow-return-state-completed",
        code="""
from prefect import flow

@flow
def hello():
    return "hi"

def case():
    state = hello(return_state=True)
    return {"state": state_of(state), "result": raises(state.result)}
""",
    ),
    Case(
        id="task-persisted-json-record",
        code="""
from prefect import flow, task
from prefect.filesystems import LocalFileSystem

LocalFileSystem(basepath=STORAGE_PATH).save("smoke-json", overwrite=True)

@task(persist_result=True, result_storage="local-file-system/smoke-json", result_serializer="json")
def double(x):
    return {"x": x * 2}

@flow
def pipeline():
    return double(21)

def case():
    return raises(pipeline)
""",
    ),
    Case(
        id="flow-raises-value-error",
        code="""
from prefect import flow

@flow
def broken():
    raise ValueError("no")

def case():
    state = broken(return_state=True)
    return {"state": state_of(state), "call": raises(broken), "result": raises(state.result)}
""",
        files_differ=FLOW_RECORDS,
    ),
]

"""More states: failing runs (what they hold, raise and write), and sets and dicts of futures returned."""

from tests.compat.differential.case import FLOW_RECORDS, RETRIES_PERSIST, Case

CASES = [
    Case(
        id="flow-ignores-failed-task-state-it-holds",
        code="""
from prefect import flow, task

@task
def bad():
    raise ValueError("bad")

@flow
def parent():
    state = bad(return_state=True)
    return state.is_failed()

def case():
    state = parent(return_state=True)
    return {"state": state_of(state), "result": raises(state.result)}
""",
    ),
    Case(
        id="flow-call-raises-task-exception",
        code="""
from prefect import flow, task

@task
def bad():
    raise LookupError("missing")

@flow
def parent():
    return bad()

def case():
    state = parent(return_state=True)
    return {
        "state": state_of(state),
        "message": state.message,
        "call": raises(parent),
        "result": raises(state.result),
    }
""",
        files_differ=FLOW_RECORDS,
    ),
    # --- failed runs: their exception, their message, what they persist ---
    Case(
        id="failed-flow-lenient-result-is-exception",
        code="""
from prefect import flow

@flow
def broken():
    raise ValueError("no", 2)

def case():
    state = broken(return_state=True)
    return {"message": state.message, "lenient": value_of(state.result(raise_on_failure=False))}
""",
        files_differ=FLOW_RECORDS,
    ),
    Case(
        id="failed-flow-persist-false-still-writes-exception",
        code="""
from prefect import flow

@flow(persist_result=False)
def broken():
    raise RuntimeError("r")

def case():
    state = broken(return_state=True)
    return {"state": state_of(state), "lenient": value_of(state.result(raise_on_failure=False))}
""",
        files_differ=FLOW_RECORDS,
    ),
    Case(
        id="failed-flow-persist-true",
        code="""
from prefect import flow

@flow(persist_result=True)
def broken():
    raise RuntimeError("r")

def case():
    state = broken(return_state=True)
    return {"state": state_of(state), "result": raises(state.result)}
""",
        files_differ=FLOW_RECORDS,
    ),
    Case(
        id="failed-flow-json-serializer-writes-exception",
        code="""
from prefect import flow

@flow(result_serializer="json")
def broken():
    raise ValueError("as json")

def case():
    state = broken(return_state=True)
    return {"state": state_of(state), "lenient": value_of(state.result(raise_on_failure=False))}
""",
        files_differ=FLOW_RECORDS,
    ),
    Case(
        id="failed-task-persisted-writes-exception-record",
        code="""
from prefect import flow, task

@task(persist_result=True)
def bad():
    raise ValueError("task no")

@flow
def parent():
    state = bad(return_state=True)
    return {
        "state": state_of(state),
        "message": state.message,
        "lenient": value_of(state.result(raise_on_failure=False)),
    }

def case():
    return raises(parent)
""",
    ),
    Case(
        id="failed-task-not-persisted-writes-nothing",
        code="""
from prefect import flow, task

@task
def bad():
    raise ValueError("task no")

@flow(persist_result=False)
def parent():
    state = bad(return_state=True)
    return {"state": state_of(state), "lenient": value_of(state.result(raise_on_failure=False))}

def case():
    return raises(parent)
""",
    ),
    Case(
        id="failed-task-data-is-record-of-exception",
        code="""
from prefect import flow, task

@task(persist_result=True)
def bad():
    raise ValueError("task no")

@flow
def parent():
    return record_of(bad(return_state=True).data)

def case():
    return raises(parent)
""",
    ),
    Case(
        id="failed-flow-data-is-record-of-exception",
        code="""
from prefect import flow

@flow
def broken():
    raise ValueError("no")

def case():
    return record_of(broken(return_state=True).data)
""",
        files_differ=FLOW_RECORDS,
    ),
    Case(
        id="failed-subflow-fails-parent",
        code="""
from prefect import flow

@flow
def child():
    raise ValueError("child")

@flow
def parent():
    return child()

def case():
    state = parent(return_state=True)
    return {
        "state": state_of(state),
        "message": state.message,
        "lenient": value_of(state.result(raise_on_failure=False)),
    }
""",
        files_differ=FLOW_RECORDS,
    ),
    Case(
        id="failed-task-retried-then-fails",
        code="""
from prefect import flow, task

calls = []

@task(retries=2)
def bad():
    calls.append(1)
    raise ValueError(len(calls))

@flow
def parent():
    state = bad(return_state=True)
    return {
        "state": state_of(state),
        "lenient": value_of(state.result(raise_on_failure=False)),
        "calls": len(calls),
    }

def case():
    return raises(parent)
""",
        files_differ=RETRIES_PERSIST,
    ),
    Case(
        id="failed-flow-retried-then-succeeds",
        code="""
from prefect import flow

calls = []

@flow(retries=1)
def flaky():
    calls.append(1)
    if len(calls) == 1:
        raise ValueError("first")
    return "second"

def case():
    state = flaky(return_state=True)
    return {"state": state_of(state), "result": raises(state.result), "calls": len(calls)}
""",
        files_differ=RETRIES_PERSIST,
    ),
    Case(
        id="failed-flow-exception-with-custom-class",
        code="""
from prefect import flow

class MyError(Exception):
    pass

@flow
def broken():
    raise MyError("mine")

def case():
    state = broken(return_state=True)
    error = state.result(raise_on_failure=False)
    return {"class": type(error).__name__, "same_class": type(error) is MyError, "call": raises(broken)}
""",
        files_differ=FLOW_RECORDS,
    ),
    Case(
        id="failed-future-lenient-result",
        code="""
from prefect import flow, task

@task
def bad():
    raise ValueError("f")

@flow
def parent():
    future = bad.submit()
    future.wait()
    return {
        "state": state_of(future.state),
        "lenient": value_of(future.result(raise_on_failure=False)),
        "strict": raises(future.result),
    }

def case():
    return raises(parent)
""",
    ),
    # --- more shapes of returned values ---
    Case(
        id="returned-generator-is-listed",
        code="""
from prefect import flow

@flow
def parent():
    return (x * x for x in range(3))

def case():
    state = parent(return_state=True)
    return {"state": state_of(state), "result": raises(state.result)}
""",
    ),
    Case(
        id="returned-set-of-one-failed-state",
        code="""
from prefect import flow, task

@task
def bad():
    raise ValueError("in a set")

@flow
def parent():
    return {bad(return_state=True)}

def case():
    state = parent(return_state=True)
    return {"state": state_of(state), "message": state.message, "result": raises(state.result)}
""",
    ),
    Case(
        id="task-returns-list-of-states",
        code="""
from prefect import flow, task
from prefect.states import Completed, Failed

@task
def t():
    return [Completed(data=1), Failed(message="no")]

@flow
def parent():
    state = t(return_state=True)
    return {"state": state_of(state), "message": state.message, "result": raises(state.result)}

def case():
    return raises(parent)
""",
    ),
    Case(
        id="task-returns-manual-completed-without-data",
        code="""
from prefect import flow, task
from prefect.states import Completed

@task
def t():
    return Completed()

@flow
def parent():
    state = t(return_state=True)
    return {"state": state_of(state), "result": raises(state.result), "plain": value_of(t())}

def case():
    return raises(parent)
""",
    ),
    Case(
        id="returned-nested-list-of-futures",
        code="""
from prefect import flow, task

@task
def one():
    return 1

@flow
def parent():
    return [[one.submit()]]

def case():
    state = parent(return_state=True)
    return {"state": state_of(state), "call": raises(parent)}
""",
    ),
    Case(
        id="returned-dict-of-futures",
        code="""
from prefect import flow, task

@task
def bad():
    raise ValueError("in a dict")

@flow
def parent():
    return {"f": bad.submit()}

def case():
    state = parent(return_state=True)
    return {"state": state_of(state), "call": raises(parent)}
""",
    ),
    Case(
        id="returned-subflow-value-and-state",
        code="""
from prefect import flow

@flow
def child():
    return 5

@flow
def parent():
    return (child(), child(return_state=True))

def case():
    state = parent(return_state=True)
    return {"state": state_of(state), "result": raises(state.result)}
""",
    ),
]

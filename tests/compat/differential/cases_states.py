"""Returned states, failed states and what a state carries (type, name, details, data, predicates)."""

from tests.compat.differential.case import FLOW_RECORDS, RETRIES_PERSIST, Case

CASES = [
    # --- a flow returning states: the aggregate rule ---
    Case(
        id="returned-task-state-completed",
        code="""
from prefect import flow, task

@task
def one():
    return 1

@flow
def parent():
    return one(return_state=True)

def case():
    state = parent(return_state=True)
    return {
        "state": state_of(state),
        "message": state.message,
        "result": raises(state.result),
        "call": raises(parent),
    }
""",
    ),
    Case(
        id="returned-task-state-failed",
        code="""
from prefect import flow, task

@task
def bad():
    raise ValueError("bad")

@flow
def parent():
    return bad(return_state=True)

def case():
    state = parent(return_state=True)
    return {
        "state": state_of(state),
        "message": state.message,
        "result": raises(state.result),
        "lenient": raises(state.result, raise_on_failure=False),
        "call": raises(parent),
    }
""",
    ),
    Case(
        id="returned-subflow-state-completed",
        code="""
from prefect import flow

@flow
def child():
    return "c"

@flow
def parent():
    return child(return_state=True)

def case():
    state = parent(return_state=True)
    return {
        "state": state_of(state),
        "message": state.message,
        "result": raises(state.result),
        "call": raises(parent),
    }
""",
    ),
    Case(
        id="returned-subflow-state-failed",
        code="""
from prefect import flow

@flow
def child():
    raise KeyError("k")

@flow
def parent():
    return child(return_state=True)

def case():
    state = parent(return_state=True)
    return {
        "state": state_of(state),
        "message": state.message,
        "result": raises(state.result),
        "lenient": raises(state.result, raise_on_failure=False),
        "call": raises(parent),
    }
""",
        files_differ=FLOW_RECORDS,
    ),
    Case(
        id="returned-list-of-states-all-completed",
        code="""
from prefect import flow, task

@task
def inc(x):
    return x + 1

@flow
def parent():
    return [inc(1, return_state=True), inc(2, return_state=True)]

def case():
    state = parent(return_state=True)
    return {
        "state": state_of(state),
        "message": state.message,
        "result": raises(state.result),
        "call": raises(parent),
    }
""",
    ),
    Case(
        id="returned-list-of-states-one-failed",
        code="""
from prefect import flow, task

@task
def maybe(x):
    if x == 2:
        raise ZeroDivisionError("two")
    return x

@flow
def parent():
    return [maybe(1, return_state=True), maybe(2, return_state=True), maybe(3, return_state=True)]

def case():
    state = parent(return_state=True)
    return {
        "state": state_of(state),
        "message": state.message,
        "result": raises(state.result),
        "lenient": raises(state.result, raise_on_failure=False),
        "call": raises(parent),
    }
""",
    ),
    Case(
        id="returned-tuple-of-states-one-failed",
        code="""
from prefect import flow, task

@task
def ok():
    return "ok"

@task
def bad():
    raise TypeError("bad")

@flow
def parent():
    return (ok(return_state=True), bad(return_state=True))

def case():
    state = parent(return_state=True)
    return {
        "state": state_of(state),
        "message": state.message,
        "result": raises(state.result),
        "lenient": raises(state.result, raise_on_failure=False),
    }
""",
    ),
    Case(
        id="returned-list-of-states-two-failed-first-wins",
        code="""
from prefect import flow, task

@task
def bad(kind):
    raise {"key": KeyError, "type": TypeError}[kind](kind)

@flow
def parent():
    return [bad("type", return_state=True), bad("key", return_state=True)]

def case():
    state = parent(return_state=True)
    return {
        "state": state_of(state),
        "message": state.message,
        "result": raises(state.result),
        "call": raises(parent),
    }
""",
    ),
    Case(
        id="returned-dict-of-states-is-plain-data",
        code="""
from prefect import flow, task

@task
def bad():
    raise ValueError("bad")

@task
def ok():
    return 1

@flow
def parent():
    return {"a": ok(return_state=True), "b": bad(return_state=True)}

def case():
    state = parent(return_state=True)
    return {"state": state_of(state), "message": state.message, "result": raises(state.result)}
""",
    ),
    Case(
        id="returned-list-mixing-states-and-values",
        code="""
from prefect import flow, task

@task
def bad():
    raise ValueError("bad")

@flow
def parent():
    return [bad(return_state=True), 5]

def case():
    state = parent(return_state=True)
    return {"state": state_of(state), "result": raises(state.result)}
""",
    ),
    Case(
        id="returned-empty-list",
        code="""
from prefect import flow

@flow
def parent():
    return []

def case():
    state = parent(return_state=True)
    return {"state": state_of(state), "result": raises(state.result), "call": raises(parent)}
""",
    ),
    Case(
        id="returned-list-of-subflow-states",
        code="""
from prefect import flow

@flow
def child(x):
    if x < 0:
        raise ValueError("negative")
    return x

@flow
def parent():
    return [child(1, return_state=True), child(-1, return_state=True)]

def case():
    state = parent(return_state=True)
    return {"state": state_of(state), "message": state.message, "result": raises(state.result)}
""",
        files_differ=FLOW_RECORDS,
    ),
    Case(
        id="returned-submitted-futures-resolve-to-states",
        code="""
from prefect import flow, task

@task
def inc(x):
    return x + 1

@flow
def parent():
    return [inc.submit(1), inc.submit(2)]

def case():
    state = parent(return_state=True)
    return {"state": state_of(state), "message": state.message, "call": raises(parent)}
""",
    ),
    Case(
        id="returned-submitted-future-failed",
        code="""
from prefect import flow, task

@task
def bad():
    raise ValueError("bad")

@flow
def parent():
    return bad.submit()

def case():
    state = parent(return_state=True)
    return {
        "state": state_of(state),
        "message": state.message,
        "result": raises(state.result),
        "call": raises(parent),
    }
""",
    ),
    Case(
        id="returned-submitted-future-completed",
        code="""
from prefect import flow, task

@task
def two():
    return 2

@flow
def parent():
    return two.submit()

def case():
    state = parent(return_state=True)
    return {"state": state_of(state), "message": state.message, "call": raises(parent)}
""",
    ),
    # --- a flow returning a state it made itself ---
    Case(
        id="manual-completed-with-data",
        code="""
from prefect import flow
from prefect.states import Completed

@flow
def parent():
    return Completed(data=41, message="done by hand")

def case():
    state = parent(return_state=True)
    return {
        "state": state_of(state),
        "message": state.message,
        "result": raises(state.result),
        "call": raises(parent),
    }
""",
    ),
    Case(
        id="manual-completed-without-data",
        code="""
from prefect import flow
from prefect.states import Completed

@flow
def parent():
    return Completed()

def case():
    state = parent(return_state=True)
    return {
        "state": state_of(state),
        "message": state.message,
        "result": raises(state.result),
        "call": raises(parent),
    }
""",
    ),
    Case(
        id="manual-completed-custom-name",
        code="""
from prefect import flow
from prefect.states import Completed

@flow
def parent():
    return Completed(name="Skipped", data="nothing to do")

def case():
    state = parent(return_state=True)
    return {"state": state_of(state), "result": raises(state.result)}
""",
    ),
    Case(
        id="manual-failed-message-only",
        code="""
from prefect import flow
from prefect.states import Failed

@flow
def parent():
    return Failed(message="upstream was empty")

def case():
    state = parent(return_state=True)
    return {
        "state": state_of(state),
        "message": state.message,
        "result": raises(state.result),
        "lenient": raises(state.result, raise_on_failure=False),
        "call": raises(parent),
        "text": str(state.result(raise_on_failure=False)),
    }
""",
    ),
    Case(
        id="manual-failed-with-exception-data",
        code="""
from prefect import flow
from prefect.states import Failed

@flow
def parent():
    return Failed(data=ValueError("inside"), message="wrapped")

def case():
    state = parent(return_state=True)
    return {
        "state": state_of(state),
        "result": raises(state.result),
        "lenient": raises(state.result, raise_on_failure=False),
        "call": raises(parent),
    }
""",
    ),
    Case(
        id="manual-failed-with-string-data",
        code="""
from prefect import flow
from prefect.states import Failed

@flow
def parent():
    return Failed(data="a reason as data")

def case():
    state = parent(return_state=True)
    lenient = state.result(raise_on_failure=False)
    return {
        "state": state_of(state),
        "result": raises(state.result),
        "lenient": value_of(lenient),
        "text": str(lenient),
    }
""",
    ),
    Case(
        id="manual-failed-with-number-data",
        code="""
from prefect import flow
from prefect.states import Failed

@flow
def parent():
    return Failed(data=7)

def case():
    state = parent(return_state=True)
    return {
        "state": state_of(state),
        "result": raises(state.result),
        "lenient": raises(state.result, raise_on_failure=False),
    }
""",
    ),
    Case(
        id="manual-failed-no-message",
        code="""
from prefect import flow
from prefect.states import Failed

@flow
def parent():
    return Failed()

def case():
    state = parent(return_state=True)
    lenient = state.result(raise_on_failure=False)
    return {
        "state": state_of(state),
        "message": state.message,
        "lenient": value_of(lenient),
        "text": str(lenient),
    }
""",
    ),
    Case(
        id="manual-cancelled",
        code="""
from prefect import flow
from prefect.states import Cancelled

@flow
def parent():
    return Cancelled(message="not today")

def case():
    state = parent(return_state=True)
    return {
        "state": state_of(state),
        "result": raises(state.result),
        "lenient": raises(state.result, raise_on_failure=False),
        "call": raises(parent),
    }
""",
    ),
    Case(
        id="manual-crashed",
        code="""
from prefect import flow
from prefect.states import Crashed

@flow
def parent():
    return Crashed(message="the machine went away")

def case():
    state = parent(return_state=True)
    return {
        "state": state_of(state),
        "result": raises(state.result),
        "lenient": raises(state.result, raise_on_failure=False),
        "call": raises(parent),
    }
""",
    ),
    Case(
        id="task-returns-manual-completed",
        code="""
from prefect import flow, task
from prefect.states import Completed

@task
def t():
    return Completed(data="by hand", message="hand made")

@flow
def parent():
    state = t(return_state=True)
    return {"state": state_of(state), "message": state.message, "result": state.result(), "plain": t()}

def case():
    return raises(parent)
""",
    ),
    Case(
        id="task-returns-manual-failed",
        code="""
from prefect import flow, task
from prefect.states import Failed

@task
def t():
    return Failed(message="told to fail")

@flow
def parent():
    state = t(return_state=True)
    return {
        "state": state_of(state),
        "message": state.message,
        "result": raises(state.result),
        "plain": raises(t),
    }

def case():
    return raises(parent)
""",
    ),
    Case(
        id="task-returns-failed-is-retried",
        code="""
from prefect import flow, task
from prefect.states import Completed, Failed

calls = []

@task(retries=2)
def t():
    calls.append(1)
    if len(calls) < 3:
        return Failed(message="again")
    return Completed(data=len(calls))

@flow
def parent():
    return t()

def case():
    return {"result": raises(parent), "calls": len(calls)}
""",
        files_differ=RETRIES_PERSIST,
    ),
]

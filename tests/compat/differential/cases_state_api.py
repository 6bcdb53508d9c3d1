"""What a state carries: its type and name, its details, its data, its predicates, its result()."""

from tests.compat.differential.case import FLOW_RECORDS, Case


def _manual(id: str, constructor: str, **kwargs: str) -> Case:
    arguments = ", ".join(f"{name}={value}" for name, value in kwargs.items())
    return Case(
        id=id,
        code=f"""
from prefect.states import {constructor}

def case():
    state = {constructor}({arguments})
    return {{
        "state": state_of(state),
        "predicates": predicates_of(state),
        "message": state.message,
        "result": raises(state.result),
        "lenient": raises(state.result, raise_on_failure=False),
    }}
""",
    )


CASES = [
    _manual("state-completed-manual-data", "Completed", data="5"),
    _manual("state-completed-manual-empty", "Completed"),
    _manual("state-failed-manual-empty", "Failed"),
    _manual("state-failed-manual-message", "Failed", message="'why'"),
    _manual("state-failed-manual-exception", "Failed", data="KeyError('k')"),
    _manual("state-crashed-manual", "Crashed"),
    _manual("state-cancelled-manual", "Cancelled"),
    _manual("state-cancelling-manual", "Cancelling"),
    _manual("state-pending-manual", "Pending"),
    _manual("state-running-manual", "Running"),
    _manual("state-scheduled-manual", "Scheduled"),
    _manual("state-awaiting-retry-manual", "AwaitingRetry"),
    _manual("state-retrying-manual", "Retrying"),
    _manual("state-late-manual", "Late"),
    _manual("state-paused-manual", "Paused"),
    _manual("state-completed-manual-none-data", "Completed", data="None"),
    _manual("state-completed-manual-named", "Completed", name="'Skipped'", data="[1]"),
    Case(
        id="state-type-enum-values",
        code="""
from prefect.states import StateType

def case():
    return sorted(member.value for member in StateType)
""",
    ),
    Case(
        id="state-type-importable-from-states",
        code="""
from prefect.states import StateType, Cancelling

def case():
    return {"cancelling": Cancelling().type == StateType.CANCELLING, "value": StateType.CANCELLING.value}
""",
    ),
    Case(
        id="state-details-of-flow-state",
        code="""
from prefect import flow

@flow
def f():
    return 1

def case():
    return details_of(f(return_state=True))
""",
    ),
    Case(
        id="state-details-of-task-state",
        code="""
from prefect import flow, task

@task
def t():
    return 1

@flow
def f():
    return details_of(t(return_state=True))

def case():
    return raises(f)
""",
    ),
    Case(
        id="state-details-task-run-id-matches-context",
        code="""
from prefect import flow, task
from prefect.context import get_run_context

@task
def t():
    return str(get_run_context().task_run.id)

@flow
def f():
    state = t(return_state=True)
    return {
        "task": str(state.state_details.task_run_id) == state.result(),
        "flow": state.state_details.flow_run_id == get_run_context().flow_run.id,
    }

def case():
    return raises(f)
""",
    ),
    Case(
        id="state-details-flow-run-id-matches-context",
        code="""
from prefect import flow
from prefect.context import get_run_context

@flow
def f():
    return str(get_run_context().flow_run.id)

def case():
    state = f(return_state=True)
    return str(state.state_details.flow_run_id) == state.result()
""",
    ),
    Case(
        id="state-details-of-failed-flow",
        code="""
from prefect import flow

@flow
def f():
    raise ValueError("x")

def case():
    return details_of(f(return_state=True))
""",
        files_differ=FLOW_RECORDS,
    ),
    Case(
        id="state-details-of-manual-state",
        code="""
from prefect.states import Completed

def case():
    return details_of(Completed(data=1))
""",
    ),
    Case(
        id="state-details-of-cached-task",
        code="""
from prefect import flow, task

def key(context, parameters):
    return "state-details-cached-" + str(parameters["x"])

@task(cache_key_fn=key)
def t(x):
    return x

@flow
def f():
    first = t(3, return_state=True)
    second = t(3, return_state=True)
    return {
        "first": state_of(first),
        "second": state_of(second),
        "first_details": details_of(first),
        "second_details": details_of(second),
        "second_result": second.result(),
    }

def case():
    return raises(f)
""",
    ),
    Case(
        id="state-details-cache-expiration",
        code="""
import datetime
from prefect import flow, task

def key(context, parameters):
    return "state-details-expiring"

@task(cache_key_fn=key, cache_expiration=datetime.timedelta(hours=1))
def t():
    return 1

@flow
def f():
    state = t(return_state=True)
    return {"details": details_of(state), "record": record_of(state.data)}

def case():
    return raises(f)
""",
    ),
    Case(
        id="state-data-of-persisted-task",
        code="""
from prefect import flow, task

@task(persist_result=True)
def t():
    return {"a": 1}

@flow
def f():
    state = t(return_state=True)
    return {"record": record_of(state.data)}

def case():
    return raises(f)
""",
    ),
    Case(
        id="state-data-of-persisted-json-task",
        code="""
from prefect import flow, task

@task(persist_result=True, result_serializer="json")
def t():
    return [1, 2]

@flow
def f():
    return record_of(t(return_state=True).data)

def case():
    return raises(f)
""",
    ),
    Case(
        id="state-data-of-unpersisted-task",
        code="""
from prefect import flow, task

@task(persist_result=False)
def t():
    return 3

@flow
def f():
    state = t(return_state=True)
    return {"record": record_of(state.data), "result": state.result()}

def case():
    return raises(f)
""",
    ),
    Case(
        id="state-data-of-persisted-flow",
        code="""
from prefect import flow

@flow(persist_result=True)
def f():
    return "kept"

def case():
    state = f(return_state=True)
    return {"record": record_of(state.data), "result": state.result()}
""",
        files_differ=FLOW_RECORDS,
    ),
    Case(
        id="state-data-of-default-flow",
        code="""
from prefect import flow

@flow
def f():
    return "kept"

def case():
    state = f(return_state=True)
    return {"record": record_of(state.data)}
""",
    ),
    Case(
        id="state-predicates-of-engine-states",
        code="""
from prefect import flow, task

@task
def ok():
    return 1

@task
def bad():
    raise ValueError("x")

@flow
def f():
    return {"ok": predicates_of(ok(return_state=True)), "bad": predicates_of(bad(return_state=True))}

def case():
    return raises(f)
""",
    ),
    Case(
        id="state-cached-is-completed",
        code="""
from prefect import flow, task

def key(context, parameters):
    return "state-cached-is-completed"

@task(cache_key_fn=key)
def t():
    return 1

@flow
def f():
    t()
    state = t(return_state=True)
    return {"state": state_of(state), "predicates": predicates_of(state)}

def case():
    return raises(f)
""",
    ),
    Case(
        id="state-message-of-completed-flow",
        code="""
from prefect import flow

@flow
def f():
    return 1

def case():
    return f(return_state=True).message
""",
    ),
    Case(
        id="state-message-of-failed-task",
        code="""
from prefect import flow, task

@task
def bad():
    raise ValueError("why")

@flow
def f():
    return bad(return_state=True).message

def case():
    return raises(f)
""",
    ),
    Case(
        id="state-timestamp-is-aware",
        code="""
from prefect.states import Completed

def case():
    stamp = Completed().timestamp
    return {"aware": stamp.tzinfo is not None, "offset": stamp.utcoffset().total_seconds()}
""",
    ),
    Case(
        id="state-result-of-task-state-outside-flow",
        code="""
from prefect import task

@task
def t(x):
    return x * 3

def case():
    state = t(2, return_state=True)
    return {"state": state_of(state), "result": raises(state.result), "details": details_of(state)}
""",
    ),
    Case(
        id="state-failed-task-outside-flow",
        code="""
from prefect import task

@task
def t():
    raise ValueError("alone")

def case():
    state = t(return_state=True)
    return {
        "state": state_of(state),
        "lenient": value_of(state.result(raise_on_failure=False)),
        "call": raises(t),
    }
""",
    ),
    Case(
        id="state-exceptions-importable",
        code="""
from prefect.exceptions import CancelledRun, CrashedRun, FailedRun, MissingResult, UnfinishedRun
from prefect.exceptions import PrefectException

def case():
    return {
        name: [base.__name__ for base in error.__mro__[1:3]]
        for name, error in {
            "FailedRun": FailedRun,
            "CrashedRun": CrashedRun,
            "CancelledRun": CancelledRun,
            "MissingResult": MissingResult,
            "UnfinishedRun": UnfinishedRun,
        }.items()
    } | {"prefect": issubclass(FailedRun, PrefectException)}
""",
    ),
    Case(
        id="state-raise-state-exception",
        code="""
from prefect.states import Completed, Failed, raise_state_exception

def case():
    return {
        "completed": raises(raise_state_exception, Completed(data=1)),
        "failed": raises(raise_state_exception, Failed(data=KeyError("k"))),
    }
""",
    ),
    Case(
        id="state-get-state-exception",
        code="""
from prefect.states import Cancelled, Crashed, Failed, get_state_exception

def case():
    states = (Failed(), Crashed(message="c"), Cancelled(data="why"))
    return [value_of(get_state_exception(state)) for state in states]
""",
    ),
    Case(
        id="state-is-state-iterable",
        code="""
from prefect.states import Completed, Failed, is_state_iterable

def case():
    return [
        is_state_iterable([Completed(), Failed()]),
        is_state_iterable((Completed(),)),
        is_state_iterable([]),
        is_state_iterable([Completed(), 1]),
        is_state_iterable({"a": Completed()}),
    ]
""",
    ),
]

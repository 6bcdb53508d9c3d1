"""The run context a flow or task sees, its result store, and keeping results in memory."""

from tests.compat.differential.case import (
    FLOW_RECORDS,
    LITERALS_INLINE,
    RETRIES_PERSIST,
    TASK_PERSIST_RULE,
    Case,
)

CASES = [
    Case(
        id="context-flow-run-context",
        code="""
from prefect import flow
from prefect.context import FlowRunContext, get_run_context

@flow(name="ctx-flow")
def f(x):
    context = get_run_context()
    return {
        "class": type(context).__name__,
        "is_flow_context": isinstance(context, FlowRunContext),
        "flow": context.flow.name,
        "parameters": context.parameters,
        "flow_run_name": isinstance(context.flow_run.name, str),
        "persist_result": context.persist_result,
    }

def case():
    return raises(f, 3)
""",
    ),
    Case(
        id="context-task-run-context",
        code="""
from prefect import flow, task
from prefect.context import TaskRunContext, get_run_context

@task(name="ctx-task")
def t(y):
    context = get_run_context()
    return {
        "class": type(context).__name__,
        "is_task_context": isinstance(context, TaskRunContext),
        "task": context.task.name,
        "parameters": context.parameters,
        "persist_result": context.persist_result,
    }

@flow
def f():
    return t(5)

def case():
    return raises(f)
""",
    ),
    Case(
        id="context-outside-any-run-raises",
        code="""
from prefect.context import get_run_context

def case():
    return raises(get_run_context)
""",
    ),
    Case(
        id="context-get-classmethods-outside-run",
        code="""
from prefect.context import FlowRunContext, TaskRunContext

def case():
    return {"flow": FlowRunContext.get() is None, "task": TaskRunContext.get() is None}
""",
    ),
    Case(
        id="context-flow-context-get-inside-task",
        code="""
from prefect import flow, task
from prefect.context import FlowRunContext, TaskRunContext

@task
def t():
    return {"flow": FlowRunContext.get().flow.name, "task": TaskRunContext.get().task.name}

@flow(name="outer-ctx")
def f():
    return {"in_task": t(), "flow_task_context": TaskRunContext.get() is None}

def case():
    return raises(f)
""",
    ),
    Case(
        id="context-missing-context-error-class",
        code="""
from prefect.context import get_run_context
from prefect.exceptions import MissingContextError

def case():
    try:
        get_run_context()
    except MissingContextError as error:
        return {"caught": True, "runtime_error": isinstance(error, RuntimeError)}
    return {"caught": False}
""",
    ),
    Case(
        id="context-flow-result-store-defaults",
        code="""
from prefect import flow
from prefect.context import get_run_context

@flow
def f():
    store = get_run_context().result_store
    return {
        "class": type(store).__name__,
        "serializer": store.serializer.type,
        "cache_result_in_memory": store.cache_result_in_memory,
        "storage": type(store.result_storage).__name__,
    }

def case():
    return raises(f)
""",
    ),
    Case(
        id="context-flow-result-store-json",
        code="""
from prefect import flow
from prefect.context import get_run_context

@flow(result_serializer="json")
def f():
    context = get_run_context()
    return {"serializer": context.result_store.serializer.type, "persist_result": context.persist_result}

def case():
    return raises(f)
""",
        files_differ=FLOW_RECORDS,
    ),
    Case(
        id="context-task-result-store-own-serializer",
        code="""
from prefect import flow, task
from prefect.context import get_run_context

@task(result_serializer="json")
def t():
    return get_run_context().result_store.serializer.type

@flow(result_serializer="compressed/pickle")
def f():
    return {"task": t(), "flow": get_run_context().result_store.serializer.type}

def case():
    return raises(f)
""",
        files_differ=TASK_PERSIST_RULE,
    ),
    Case(
        id="context-task-result-store-inherits-flow-serializer",
        code="""
from prefect import flow, task
from prefect.context import get_run_context

@task
def t():
    return get_run_context().result_store.serializer.type

@flow(result_serializer="json")
def f():
    return t()

def case():
    return raises(f)
""",
        files_differ=TASK_PERSIST_RULE,
    ),
    Case(
        id="context-result-store-writes-and-reads",
        code="""
from prefect import flow
from prefect.context import get_run_context

@flow
def f():
    store = get_run_context().result_store
    store.write({"k": [1, 2]}, key="context-store-write")
    return {"exists": store.exists("context-store-write"), "value": store.read("context-store-write").result}

def case():
    return raises(f)
""",
        differs="a flow's result store reads back what it writes; Prefect 3.9.1's drops the record's "
        "metadata of a flow's store, so reading it back fails",
        resultdeck={"value": {"exists": True, "value": {"k": [1, 2]}}},
    ),
    Case(
        id="context-persist-result-of-task-defaults",
        code="""
from prefect import flow, task
from prefect.context import get_run_context

@task
def plain():
    return get_run_context().persist_result

@task(retries=1)
def retried():
    return get_run_context().persist_result

@task(persist_result=False)
def off():
    return get_run_context().persist_result

@flow
def f():
    return {"plain": plain(), "retried": retried(), "off": off(), "flow": get_run_context().persist_result}

def case():
    return raises(f)
""",
        differs=RETRIES_PERSIST,
        resultdeck={"value": {"flow": False, "off": False, "plain": False, "retried": True}},
    ),
    Case(
        id="context-persist-result-flow-true-reaches-task",
        code="""
from prefect import flow, task
from prefect.context import get_run_context

@task
def t():
    return get_run_context().persist_result

@flow(persist_result=True)
def f():
    return t()

def case():
    return raises(f)
""",
        files_differ=LITERALS_INLINE,
    ),
    # --- cache_result_in_memory ---
    Case(
        id="context-cache-result-in-memory-attributes",
        code="""
from prefect import flow, task

@task
def t():
    return 1

@task(cache_result_in_memory=False)
def u():
    return 1

@flow
def f():
    return 1

@flow(cache_result_in_memory=False)
def g():
    return 1

def case():
    return [
        t.cache_result_in_memory,
        u.cache_result_in_memory,
        f.cache_result_in_memory,
        g.cache_result_in_memory,
    ]
""",
    ),
    Case(
        id="context-cache-result-in-memory-false-task-store",
        code="""
from prefect import flow, task
from prefect.context import get_run_context

@task(cache_result_in_memory=False)
def t():
    return get_run_context().result_store.cache_result_in_memory

@flow(cache_result_in_memory=False)
def f():
    return {"task": t(), "flow": get_run_context().result_store.cache_result_in_memory}

def case():
    return raises(f)
""",
    ),
    Case(
        id="context-cache-result-in-memory-false-persisted-task",
        code="""
from prefect import flow, task

@task(cache_result_in_memory=False, persist_result=True)
def t():
    return {"big": list(range(5))}

@flow
def f():
    state = t(return_state=True)
    return {"result": state.result(), "state": state_of(state)}

def case():
    return raises(f)
""",
    ),
    Case(
        id="context-cache-result-in-memory-false-flow-persisted",
        code="""
from prefect import flow

@flow(cache_result_in_memory=False, persist_result=True)
def f():
    return "from storage"

def case():
    state = f(return_state=True)
    return {"state": state_of(state), "result": raises(state.result), "call": raises(f)}
""",
        files_differ=FLOW_RECORDS,
    ),
    Case(
        id="context-cache-result-in-memory-false-unpersisted-task",
        code="""
from prefect import flow, task

@task(cache_result_in_memory=False, persist_result=False)
def t():
    return 9

@flow
def f():
    state = t(return_state=True)
    return {"result": raises(state.result), "plain": t()}

def case():
    return raises(f)
""",
    ),
    Case(
        id="context-cache-result-in-memory-with-options",
        code="""
from prefect import flow, task

@task
def t():
    return 1

@flow
def f():
    return 1

def case():
    return [
        t.with_options(cache_result_in_memory=False).cache_result_in_memory,
        f.with_options(cache_result_in_memory=False).cache_result_in_memory,
    ]
""",
    ),
    # --- persistence of flow results ---
    Case(
        id="context-flow-result-persisted-by-storage",
        code="""
from prefect import flow
from prefect.context import get_run_context

@flow(result_serializer="json")
def f():
    return {"persist": get_run_context().persist_result}

def case():
    state = f(return_state=True)
    return {"result": raises(state.result), "record": record_of(state.data)}
""",
        files_differ=FLOW_RECORDS,
    ),
    Case(
        id="context-flow-persist-result-default-none",
        code="""
from prefect import flow, task

@flow
def f():
    return 1

@task
def t():
    return 1

def case():
    return {"flow": f.persist_result, "task": t.persist_result}
""",
    ),
    Case(
        id="context-flow-persist-result-from-serializer",
        code="""
from prefect import flow

@flow(result_serializer="json")
def f():
    return 1

def case():
    return f.persist_result
""",
        differs="a flow's persist_result stays as given (None): the seed documents' task rule follows what "
        "the flow set, not what it inferred; Prefect 3.9.1 sets it True when result_serializer or "
        "result_storage is given",
        resultdeck=None,
    ),
]

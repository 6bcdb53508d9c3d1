"""Async flows and tasks: awaited, submitted, mapped, mixed with sync code, their states' aresult()."""

from tests.compat.differential.case import FLOW_RECORDS, RETRIES_PERSIST, Case

CASES = [
    Case(
        id="async-flow-awaited",
        code="""
from prefect import flow

@flow
async def f(x):
    return x * 2

async def case():
    return await araises(f, 21)
""",
    ),
    Case(
        id="async-flow-return-state",
        code="""
import inspect
from prefect import flow

def _awaitable(value):
    # state.result() in async code is an awaitable of the result, as in Prefect 3.
    awaitable = inspect.isawaitable(value)
    if inspect.iscoroutine(value):
        value.close()
    return awaitable

@flow
async def f():
    return "a"

async def case():
    state = await f(return_state=True)
    return {
        "state": state_of(state),
        "result_is_awaitable": _awaitable(state.result()),
        "aresult": await araises(state.aresult),
    }
""",
    ),
    Case(
        id="async-flow-call-is-coroutine",
        code="""
import asyncio, inspect
from prefect import flow

@flow
async def f():
    return 1

def case():
    call = f()
    kind = inspect.iscoroutine(call)
    return {"coroutine": kind, "value": asyncio.run(call)}
""",
    ),
    Case(
        id="async-flow-raises",
        code="""
from prefect import flow

@flow
async def f():
    raise ValueError("async no")

async def case():
    state = await f(return_state=True)
    return {
        "state": state_of(state),
        "call": await araises(f),
        "aresult": await araises(state.aresult),
        "lenient": value_of(await state.aresult(raise_on_failure=False)),
    }
""",
        files_differ=FLOW_RECORDS,
    ),
    Case(
        id="async-task-awaited-in-async-flow",
        code="""
from prefect import flow, task

@task
async def t(x):
    return x + 1

@flow
async def f():
    return await t(1)

async def case():
    return await araises(f)
""",
    ),
    Case(
        id="async-task-return-state",
        code="""
import inspect
from prefect import flow, task

def _awaitable(value):
    awaitable = inspect.isawaitable(value)
    if inspect.iscoroutine(value):
        value.close()
    return awaitable

@task
async def t():
    return "s"

@flow
async def f():
    state = await t(return_state=True)
    return {
        "state": state_of(state),
        "aresult": await state.aresult(),
        "result_is_awaitable": _awaitable(state.result()),
    }

async def case():
    return await araises(f)
""",
    ),
    Case(
        id="async-task-raises-in-async-flow",
        code="""
from prefect import flow, task

@task
async def t():
    raise KeyError("k")

@flow
async def f():
    state = await t(return_state=True)
    return {
        "state": state_of(state),
        "lenient": value_of(await state.aresult(raise_on_failure=False)),
        "call": await araises(t),
    }

async def case():
    return await araises(f)
""",
    ),
    Case(
        id="async-sync-task-in-async-flow",
        code="""
from prefect import flow, task

@task
def t(x):
    return x * 10

@flow
async def f():
    return t(2)

async def case():
    return await araises(f)
""",
    ),
    Case(
        id="async-gather-tasks",
        code="""
import asyncio
from prefect import flow, task

@task
async def t(x):
    await asyncio.sleep(0.01)
    return x

@flow
async def f():
    return await asyncio.gather(t(1), t(2), t(3))

async def case():
    return await araises(f)
""",
    ),
    Case(
        id="async-submit-async-task",
        code="""
from prefect import flow, task

@task
async def t(x):
    return x * 3

@flow
async def f():
    future = t.submit(2)
    return {"result": future.result(), "state": state_of(future.state)}

async def case():
    return await araises(f)
""",
    ),
    Case(
        id="async-submit-sync-task-from-async-flow",
        code="""
from prefect import flow, task

@task
def t(x):
    return x - 1

@flow
async def f():
    futures = [t.submit(i) for i in range(3)]
    return [future.result() for future in futures]

async def case():
    return await araises(f)
""",
    ),
    Case(
        id="async-map-async-task",
        code="""
from prefect import flow, task

@task
async def t(x):
    return x * x

@flow
async def f():
    return t.map([1, 2, 3]).result()

async def case():
    return await araises(f)
""",
    ),
    Case(
        id="async-map-sync-task-from-async-flow",
        code="""
from prefect import flow, task, unmapped

@task
def t(x, y):
    return x + y

@flow
async def f():
    return t.map([1, 2], unmapped(10)).result()

async def case():
    return await araises(f)
""",
    ),
    Case(
        id="async-future-aresult-of-task",
        code="""
from prefect import flow, task

@task
async def t():
    return 1

@flow
async def f():
    future = t.submit()
    return await future.aresult()

async def case():
    return await araises(f)
""",
        differs="task futures also have aresult(), as awaiting a result should; Prefect 3.9.1 has it "
        "only on flow-run futures",
        resultdeck={"value": 1},
    ),
    Case(
        id="async-future-wait-then-state-aresult",
        code="""
from prefect import flow, task

@task
async def t():
    return "w"

@flow
async def f():
    future = t.submit()
    future.wait()
    return await future.state.aresult()

async def case():
    return await araises(f)
""",
    ),
    Case(
        id="async-submitted-failure",
        code="""
from prefect import flow, task

@task
async def t():
    raise ValueError("sub")

@flow
async def f():
    future = t.submit()
    future.wait()
    return {"state": state_of(future.state), "lenient": value_of(future.result(raise_on_failure=False))}

async def case():
    return await araises(f)
""",
    ),
    Case(
        id="async-subflow-awaited",
        code="""
from prefect import flow

@flow
async def child(x):
    return x + 100

@flow
async def parent():
    return await child(1)

async def case():
    return await araises(parent)
""",
    ),
    Case(
        id="async-sync-subflow-in-async-flow",
        code="""
from prefect import flow

@flow
def child(x):
    return x + 1

@flow
async def parent():
    return child(1)

async def case():
    return await araises(parent)
""",
    ),
    Case(
        id="async-subflow-return-state-failed",
        code="""
from prefect import flow

@flow
async def child():
    raise ValueError("c")

@flow
async def parent():
    return await child(return_state=True)

async def case():
    state = await parent(return_state=True)
    return {"state": state_of(state), "aresult": await araises(state.aresult)}
""",
        files_differ=FLOW_RECORDS,
    ),
    Case(
        id="async-flow-returns-list-of-task-states",
        code="""
from prefect import flow, task

@task
async def t(x):
    if x:
        raise ValueError(x)
    return x

@flow
async def parent():
    return [await t(0, return_state=True), await t(1, return_state=True)]

async def case():
    state = await parent(return_state=True)
    return {"state": state_of(state), "message": state.message, "aresult": await araises(state.aresult)}
""",
    ),
    Case(
        id="async-flow-returns-manual-state",
        code="""
from prefect import flow
from prefect.states import Completed

@flow
async def f():
    return Completed(data="hand", message="async hand")

async def case():
    state = await f(return_state=True)
    return {"state": state_of(state), "message": state.message, "aresult": await araises(state.aresult)}
""",
    ),
    Case(
        id="async-task-retries",
        code="""
from prefect import flow, task

calls = []

@task(retries=2)
async def t():
    calls.append(1)
    if len(calls) < 3:
        raise ValueError("again")
    return len(calls)

@flow
async def f():
    return await t()

async def case():
    return {"result": await araises(f), "calls": len(calls)}
""",
        files_differ=RETRIES_PERSIST,
    ),
    Case(
        id="async-task-persisted-record",
        code="""
from prefect import flow, task

@task(persist_result=True)
async def t():
    return {"async": True}

@flow
async def f():
    state = await t(return_state=True)
    return record_of(state.data)

async def case():
    return await araises(f)
""",
    ),
    Case(
        id="async-flow-persisted",
        code="""
from prefect import flow

@flow(persist_result=True)
async def f():
    return [1, "two"]

async def case():
    state = await f(return_state=True)
    return {"result": await state.aresult(), "record": record_of(state.data)}
""",
        files_differ=FLOW_RECORDS,
    ),
    Case(
        id="async-flow-context",
        code="""
from prefect import flow, task
from prefect.context import get_run_context

@task
async def t():
    return type(get_run_context()).__name__

@flow
async def f():
    return {"flow": type(get_run_context()).__name__, "task": await t()}

async def case():
    return await araises(f)
""",
    ),
    Case(
        id="async-sync-flow-calls-async-task",
        code="""
import asyncio
from prefect import flow, task

@task
async def t():
    return 5

@flow
def f():
    return asyncio.run(t())

def case():
    return raises(f)
""",
    ),
    Case(
        id="async-task-outside-flow",
        code="""
from prefect import task

@task
async def t(x):
    return x + 0.5

async def case():
    return await araises(t, 1)
""",
    ),
    Case(
        id="async-sync-state-aresult",
        code="""
from prefect import flow

@flow
def f():
    return 4

async def case():
    state = f(return_state=True)
    return await state.aresult()
""",
    ),
    Case(
        id="async-flow-timeout-not-hit",
        code="""
import asyncio
from prefect import flow

@flow(timeout_seconds=30)
async def f():
    await asyncio.sleep(0.01)
    return "in time"

async def case():
    return await araises(f)
""",
    ),
    Case(
        id="async-map-failed-element",
        code="""
from prefect import flow, task

@task
async def t(x):
    if x == 2:
        raise ValueError("two")
    return x

@flow
async def f():
    futures = t.map([1, 2, 3])
    futures.wait()
    return [state_of(future.state) for future in futures]

async def case():
    return await araises(f)
""",
    ),
    Case(
        id="async-flow-returns-future",
        code="""
from prefect import flow, task

@task
async def t():
    return "fut"

@flow
async def f():
    return t.submit()

async def case():
    state = await f(return_state=True)
    return {"state": state_of(state), "message": state.message}
""",
    ),
    Case(
        id="async-manual-state-aresult",
        code="""
from prefect.states import Completed, Failed

async def case():
    return {
        "completed": await araises(Completed(data=3).aresult),
        "failed": await araises(Failed(data=ValueError("v")).aresult),
        "lenient": value_of(await Failed(message="m").aresult(raise_on_failure=False)),
    }
""",
    ),
]

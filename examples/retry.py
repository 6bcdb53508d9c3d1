"""A flow that fails on its first attempts and then succeeds: retries at work."""

from apps.flows import flow, task
from apps.flows.runtime import flow_run_count


@task(persist_result=True)
def fetch_quote(symbol: str) -> dict:
    return {"symbol": symbol, "price": 101.5}


@task
def check_upstream(failures: int) -> None:
    if flow_run_count() <= failures:
        raise ConnectionError(f"upstream unavailable on attempt {flow_run_count()}")


@flow(name="flaky-quote", retries=2, retry_delay_seconds=0.1)
def flaky_quote(symbol: str = "ACME", failures: int = 1) -> dict:
    """Fails `failures` times (a flaky upstream), then succeeds; fetch_quote runs once in all."""
    quote = fetch_quote(symbol)
    check_upstream(failures)
    return quote


@flow(name="sum-numbers", persist_result=True)
def sum_numbers(count: int = 10) -> int:
    """A tiny flow for load tests: adds 0..count-1 with one task."""
    return add_up(count)


@task
def add_up(count: int) -> int:
    return sum(range(count))

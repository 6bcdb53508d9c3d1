"""Q2 of the results guide: the task disables persistence, so a retry attempt raises an error."""

from apps.flows import flow, task


@task(persist_result=False, retries=3)
def my_task():
    return "Hi! 👋"


@flow(persist_result=True, result_storage="s3/prod")
def my_flow():
    my_task()

"""Q1 of the results guide: the task persists to s3/prod because its flow sets persist_result=True."""

from apps.flows import flow, task


@task
def my_task():
    return "Hi! 👋"


@flow(persist_result=True, result_storage="s3/prod")
def my_flow():
    my_task()

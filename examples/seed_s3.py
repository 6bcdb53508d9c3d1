"""The guide's S3 examples: a flow that always stores its result in the s3/demo block."""

from apps.flows import flow
from apps.flows.states import Completed


@flow(persist_result=True, result_storage="s3/demo")
def always_store_results():
    return "Hi from Results! 👋"


@flow(persist_result=True, result_storage="s3/demo")
def foo():
    return Completed(data="completed")


if __name__ == "__main__":
    always_store_results()

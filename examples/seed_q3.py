"""Q3 of the results guide: the flow persists (it has retries) to the default storage; the task does not."""

import pandas as pd

from apps.flows import flow, task


@task
def my_task() -> pd.DataFrame:
    print("Big dataframe ⛔️")


@flow(retries=2)
def my_flow():
    my_task()

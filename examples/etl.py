"""A small pandas ETL: extract orders, clean them, aggregate revenue per region, return a DataFrame."""

import pandas as pd

from apps.flows import flow, task


@task(retries=1)
def extract_orders(rows: int) -> pd.DataFrame:
    regions = ["north", "south", "east", "west"]
    return pd.DataFrame(
        {
            "order_id": range(1, rows + 1),
            "region": [regions[i % len(regions)] for i in range(rows)],
            "amount": [round(10 + (i * 7.3) % 90, 2) for i in range(rows)],
            "refunded": [i % 11 == 0 for i in range(rows)],
        }
    )


@task
def clean_orders(orders: pd.DataFrame) -> pd.DataFrame:
    return orders[~orders["refunded"]].drop(columns=["refunded"])


@task(persist_result=True)
def revenue_by_region(orders: pd.DataFrame) -> pd.DataFrame:
    return (
        orders.groupby("region", as_index=False)["amount"].sum().sort_values("region").reset_index(drop=True)
    )


@flow(name="orders-etl", persist_result=True, log_prints=True)
def orders_etl(rows: int = 100) -> pd.DataFrame:
    """Revenue per region from generated orders; the DataFrame result is persisted (pickle)."""
    orders = extract_orders(rows)
    cleaned = clean_orders(orders)
    revenue = revenue_by_region(cleaned)
    print(f"{len(cleaned)} orders kept of {len(orders)}")
    return revenue

"""The flows workers run and the dashboard lists (the default FLOW_MODULES entry).

The seed documents' examples all call their flow ``my_flow``; here each gets a distinct name.
"""

from examples import seed_compressed, seed_q1, seed_q2, seed_q3, seed_quiz, seed_s3
from examples.etl import orders_etl
from examples.retry import flaky_quote, sum_numbers

quiz_flow = seed_quiz.my_flow.with_options(name="quiz")
q1_flow = seed_q1.my_flow.with_options(name="q1")
q2_flow = seed_q2.my_flow.with_options(name="q2")
q3_flow = seed_q3.my_flow.with_options(name="q3")
flow_with_compressed_serializer = seed_compressed.flow_with_compressed_serializer
always_store_results = seed_s3.always_store_results
s3_completed_state = seed_s3.foo.with_options(name="s3-completed-state")

__all__ = [
    "always_store_results",
    "flaky_quote",
    "flow_with_compressed_serializer",
    "orders_etl",
    "q1_flow",
    "q2_flow",
    "q3_flow",
    "quiz_flow",
    "s3_completed_state",
    "sum_numbers",
]

"""One differential case: a small piece of Prefect code, run by real Prefect and by Resultdeck.

``code`` is written against Prefect (``from prefect import flow, task``); for Resultdeck only its
import lines change (``prefect`` becomes ``resultdeck``, see ``import_rewrite``). It defines
``case()`` (plain or ``async def``), which returns what a user observes, as plain values: a
state's type and name, a ``result()`` value, what a call raises (``raises(fn)``). The harness adds
the files the case wrote (where, record or raw payload, serializer, the record's JSON keys).

The names the harness puts in the case's namespace:
  STORAGE_PATH   a fresh folder for this case (pass it to ``LocalFileSystem(basepath=...)``)
  raises(fn, *args, **kwargs)   {"value": <canonical>} or {"raises": "<exception type name>"}
  araises(coro_fn, ...)         the same for an awaitable
  state_of(state)               {"type": ..., "name": ..., "final": ...}
  value_of(value)               a value as ``raises`` shows it: states by state_of, exceptions by
                                class name (without module) and args
  predicates_of(state)          the names of the ``is_*()`` predicates that hold
  details_of(state)             which ``state_details`` ids are set, and the cache/retry fields
  record_of(data)               a ``ResultRecord``'s result, serializer type and expiration presence,
                                or the type name of other data

A case where Resultdeck deliberately differs sets ``differs`` to the reason, and ``resultdeck``
to what Resultdeck observes instead; Prefect's side is then still run and recorded. A case whose
observations agree but whose files deliberately differ (where they go, records or raw payloads,
how many) sets ``files_differ`` to the reason instead.
"""

from __future__ import annotations

import dataclasses
import re

__all__ = [
    "FLOW_RECORDS",
    "LITERALS_INLINE",
    "RETRIES_PERSIST",
    "TASK_PERSIST_RULE",
    "Case",
    "import_rewrite",
]

# The deliberate differences several cases share (see files_differ).
FLOW_RECORDS = (
    "Resultdeck writes a flow's result, and a failed flow's exception, as a self-describing ResultRecord; "
    "Prefect 3.9.1 writes a flow's as a raw payload whose serializer only its API knows"
)
RETRIES_PERSIST = (
    "Resultdeck persists the results of tasks and flows with retries (the seed documents' rule), so a "
    "retry can reuse them; Prefect 3.9.1 does not"
)
TASK_PERSIST_RULE = (
    "a task persists by default when its flow sets persist_result=True (the seed documents' rule); "
    "in Prefect 3.9.1 also when its flow only infers it (from result_storage or result_serializer) or "
    "when the task sets result_storage or result_serializer itself"
)
LITERALS_INLINE = "Resultdeck keeps the literal results None, True and False in its database, not in files"

_IMPORT_LINE = re.compile(r"^(\s*)(from|import)(\s+)prefect\b", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    code: str
    differs: str = ""
    resultdeck: object = None
    files_differ: str = ""


def import_rewrite(code: str) -> str:
    """Prefect code as a Resultdeck user runs it: the import lines name ``resultdeck``."""
    return _IMPORT_LINE.sub(r"\1\2\3resultdeck", code)

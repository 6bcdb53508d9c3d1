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

A case where Resultdeck deliberately differs sets ``differs`` to the reason, and ``resultdeck``
to what Resultdeck observes instead; Prefect's side is then still run and recorded.
"""

from __future__ import annotations

import dataclasses
import re

__all__ = ["Case", "import_rewrite"]

_IMPORT_LINE = re.compile(r"^(\s*)(from|import)(\s+)prefect\b", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    code: str
    differs: str = ""
    resultdeck: object = None


def import_rewrite(code: str) -> str:
    """Prefect code as a Resultdeck user runs it: the import lines name ``resultdeck``."""
    return _IMPORT_LINE.sub(r"\1\2\3resultdeck", code)

"""Classes used by corpus values. Shipped next to every manifest.

Pickled instances of these classes reference them *by import path*
(``corpus_types.Point`` / ``corpus_types.Item`` / ``corpus_types.Shape``), so this
module must be importable (on ``sys.path``) to unpickle them. JSON-serialized
instances carry ``{"__class__": "corpus_types.Point", "data": {...}}`` and are rebuilt
with ``pydantic.TypeAdapter(cls).validate_python(data)``, as Prefect does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel


class Point(BaseModel):
    x: int
    y: float
    label: str
    tags: list[str] = []
    created: datetime | None = None


class Shape(BaseModel):
    name: str
    points: list[Point]


@dataclass
class Item:
    name: str
    qty: int
    price: float
    dims: list[int] = field(default_factory=list)

"""Safe previews of result files: what a stored value looks like, without running anything it names.

Pure package: no Django. ``preview_build`` reads a bounded head of a result file with range reads (a
1 GB result never lands in memory), asks the one head reader (``apps.results.format.layout``) for its
layout and metadata, and previews the value as a tree of JSON-safe nodes:

* ``json_tree``: JSON payloads parsed with a plain JSON parser and then tagged:
  ``{"__class__": ..., "data": ...}`` and ``{"__exc_type__": ..., "message": ...}`` become typed
  nodes. No class named by a file is imported. A cut payload is parsed as far as it goes.
* ``pickle_machine`` and ``pickle_reader``: pickles are never unpickled. A symbolic machine walks the
  opcodes, rebuilds containers and plain values, and shows every global the pickle would import and
  every call it would make as flagged nodes, with a danger level per import. Values it recognises by
  structure (numpy arrays, datetimes, decimals, UUIDs, exceptions, model instances, data frames) are
  shown as such; a numpy buffer is decoded with ``numpy.frombuffer`` because it is data, not code.
* ``values``: real Python values in the same node format; the sandboxed decoder (``sandbox``, which
  runs ``sandbox_worker`` in a separate process) uses it after a restricted unpickle.
* ``inspect``: the report of the ``inspect_result`` command, built on the same readers.

Anything unreadable ends in a ``Preview`` with ``error`` and the raw head (hex and text); no
exception escapes ``preview_build``.
"""

from .build import metadata_summary, payload_preview, preview_build, preview_from_bytes, raw_head
from .json_tree import json_text_preview
from .nodes import (
    DANGER_DANGEROUS,
    DANGER_KNOWN,
    DANGER_UNKNOWN,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_NODES,
    Preview,
    PreviewError,
)
from .pickle_machine import global_classify
from .pickle_reader import pickle_preview
from .values import ndarray_table, value_to_preview

__all__ = [
    "DANGER_DANGEROUS",
    "DANGER_KNOWN",
    "DANGER_UNKNOWN",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_NODES",
    "Preview",
    "PreviewError",
    "global_classify",
    "json_text_preview",
    "metadata_summary",
    "ndarray_table",
    "payload_preview",
    "pickle_preview",
    "preview_build",
    "preview_from_bytes",
    "raw_head",
    "value_to_preview",
]

"""The Resultdeck SDK in one import, for scripts: ``from resultdeck import flow, task``.

Re-exports ``flow``, ``task``, ``get_run_logger``, ``unmapped``, ``task_input_hash``, the ``states``
module (Completed, Failed, ...) and the storage classes ``LocalFileSystem``, ``RemoteFileSystem``
and ``S3``. Names load on first use, so importing this package stays light (Django is set up when a
flow first runs, or when ``get_run_logger`` is imported). The submodules ``serializers``,
``filesystems`` and ``results`` carry the names of Prefect's modules.

A process that imports the SDK runs its own code, so it decodes with ``CODE`` trust, as Prefect
does (see ``apps.results.format.trust``).
"""

from typing import Any

from apps.results.format.trust import DecodeTrust, decode_trust_set

decode_trust_set(DecodeTrust.CODE)

__all__ = [
    "S3",
    "LocalFileSystem",
    "RemoteFileSystem",
    "flow",
    "get_run_logger",
    "states",
    "task",
    "task_input_hash",
    "unmapped",
]


def __getattr__(name: str) -> Any:
    if name in ("flow", "task", "get_run_logger", "unmapped", "task_input_hash", "states"):
        import apps.flows

        return getattr(apps.flows, name)
    if name in ("LocalFileSystem", "RemoteFileSystem", "S3"):
        from apps.blocks import filesystems

        return getattr(filesystems, name)
    raise AttributeError(f"module 'resultdeck' has no attribute {name!r}")

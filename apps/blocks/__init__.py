"""Storage blocks: saved filesystems in the database.

Importing the package connects the filesystems' Prefect-style ``save(name)``/``load(name)`` to the
database through the SDK functions, which set Django up on first use; the filesystems package itself
stays free of Django.
"""

from apps.blocks import sdk
from apps.blocks.filesystems import block_persistence_register

block_persistence_register(save=sdk.filesystem_save, load=sdk.filesystem_load)

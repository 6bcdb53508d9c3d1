"""Storage filesystems: where result bytes live.

The classes carry the names of Prefect's storage blocks (``LocalFileSystem``, ``RemoteFileSystem``,
``S3``) and their core methods (``read_path``, ``write_path``, ``basepath``/``bucket_path``), so code
written against Prefect works unchanged. On top of that they offer what a result browser needs:
streaming reads and writes, range reads for previews, listing, batched deletion for purges, a
connection probe, and errors a user can act on.

This package is pure: it imports nothing from Django. Persisting a configured filesystem (Prefect's
``.save(name)`` / ``.load(name)``) belongs to the database layer, which registers itself through
``block_persistence_register``; it rebuilds an instance from ``settings(include_secrets=True)``
through ``filesystem_from_settings``.

Keys are relative to the filesystem's base path. A key may also be an absolute path (local) or a
URL (remote, S3) as long as it points inside the base path; anything that would escape it is
refused with ``UnsafeKeyError`` before any I/O happens.
"""

from .base import (
    PROBE_KEY_PREFIX,
    SECRET_MASK,
    Block,
    BlockPersistenceUnavailableError,
    DeleteReport,
    ObjectInfo,
    WritableFileSystem,
    block_persistence_register,
    secret_mask_leaves,
)
from .errors import (
    AccessDeniedError,
    BucketNotFoundError,
    EndpointUnreachableError,
    InvalidSettingsError,
    NotWritableError,
    ObjectNotFoundError,
    StorageError,
    UnsafeKeyError,
)
from .keys import key_normalize, key_prefix_normalize
from .local import TEMP_FILE_SUFFIX, LocalFileSystem
from .registry import FILESYSTEM_CLASSES, filesystem_from_settings
from .remote import RemoteFileSystem
from .s3 import S3, bucket_path_split

__all__ = [
    "FILESYSTEM_CLASSES",
    "PROBE_KEY_PREFIX",
    "S3",
    "SECRET_MASK",
    "TEMP_FILE_SUFFIX",
    "AccessDeniedError",
    "Block",
    "BlockPersistenceUnavailableError",
    "BucketNotFoundError",
    "DeleteReport",
    "EndpointUnreachableError",
    "InvalidSettingsError",
    "LocalFileSystem",
    "NotWritableError",
    "ObjectInfo",
    "ObjectNotFoundError",
    "RemoteFileSystem",
    "StorageError",
    "UnsafeKeyError",
    "WritableFileSystem",
    "block_persistence_register",
    "bucket_path_split",
    "filesystem_from_settings",
    "key_normalize",
    "key_prefix_normalize",
    "secret_mask_leaves",
]

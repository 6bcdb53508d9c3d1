"""``prefect.filesystems`` under its Resultdeck name: the storage blocks."""

from apps.blocks.filesystems import S3, LocalFileSystem, RemoteFileSystem, WritableFileSystem

__all__ = ["S3", "LocalFileSystem", "RemoteFileSystem", "WritableFileSystem"]

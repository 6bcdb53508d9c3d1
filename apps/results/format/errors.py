"""The errors of reading and writing result bytes, shared by the codecs and the serializers."""

from __future__ import annotations


class SerializationError(Exception):
    """A value could not be serialized, or stored bytes could not be decoded."""


class UnknownSerializerError(SerializationError):
    """A serializer name or config ``type`` that no registered serializer handles."""


class DecodeLimitError(SerializationError):
    """Decoding would produce more bytes than the configured limit (e.g. a compression bomb)."""


class SerializerConfigError(SerializationError, ValueError):
    """A serializer config or constructor argument is invalid."""


class RecordFormatError(SerializationError):
    """A result file that is not valid JSON, is truncated, or lacks required fields."""


class MissingObjectError(SerializationError):
    """Stored data refers to a module or attribute that is not available here."""


__all__ = [
    "DecodeLimitError",
    "MissingObjectError",
    "RecordFormatError",
    "SerializationError",
    "SerializerConfigError",
    "UnknownSerializerError",
]

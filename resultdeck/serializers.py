"""``prefect.serializers`` under its Resultdeck name: the serializers, and Prefect's JSON hooks."""

from apps.results.format.json_objects import json_object_decode as prefect_json_object_decoder
from apps.results.format.json_objects import json_object_encode as prefect_json_object_encoder
from apps.results.format.serializers import (
    CompressedJSONSerializer,
    CompressedPickleSerializer,
    CompressedSerializer,
    JSONSerializer,
    PickleSerializer,
    Serializer,
    UnknownSerializer,
)

__all__ = [
    "CompressedJSONSerializer",
    "CompressedPickleSerializer",
    "CompressedSerializer",
    "JSONSerializer",
    "PickleSerializer",
    "Serializer",
    "UnknownSerializer",
    "prefect_json_object_decoder",
    "prefect_json_object_encoder",
]

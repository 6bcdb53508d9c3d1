"""``prefect.results`` under its Resultdeck name: the result store and its records."""

from apps.results.format.records import ResultRecord, ResultRecordMetadata
from apps.results.format.store import ResultStore

__all__ = ["ResultRecord", "ResultRecordMetadata", "ResultStore"]

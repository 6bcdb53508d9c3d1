"""The index, the inspect command and the preview page classify every corpus file alike."""

from __future__ import annotations

import json

from apps.blocks.filesystems import LocalFileSystem, ObjectInfo
from apps.results.format.layout import head_read
from apps.results.indexing import INDEX_HEAD_BYTES, file_classify
from apps.results.preview import preview_build
from apps.results.preview.inspect import result_inspect

CORPUS_FOLDERS = ("v2", "v3", "v3-block", "v3-default-storage")


def test_index_inspect_and_preview_report_the_same_layout_and_serializer(prefect_corpus):
    manifest = {
        entry["path"]: entry
        for entry in map(json.loads, (prefect_corpus / "manifest.jsonl").read_text().splitlines())
    }
    files = sorted(
        path for folder in CORPUS_FOLDERS for path in (prefect_corpus / folder).rglob("*") if path.is_file()
    )
    filesystem = LocalFileSystem(basepath=str(prefect_corpus))
    assert len(files) == len(manifest)
    for path in files:
        key = path.relative_to(prefect_corpus).as_posix()
        data = path.read_bytes()
        head = head_read(data)
        indexed = file_classify(
            info=ObjectInfo(key=key, size=len(data), modified=None), head=data[:INDEX_HEAD_BYTES]
        )
        inspected = result_inspect(location=str(path))
        previewed = preview_build(fs=filesystem, key=key)

        layouts = {str(head.layout), str(indexed.layout), inspected["layout"], str(previewed.layout)}
        assert layouts == {manifest[key]["layout"]}, (key, layouts)
        serializers = [
            head.serializer,
            indexed.serializer_config,
            inspected["serializer"],
            previewed.serializer,
        ]
        assert all(found == head.serializer for found in serializers), (key, serializers)
        assert head.serializer is not None, key
        assert previewed.error is None, (key, previewed.error)

"""The one switch between the SDK/worker trust (names in configs and JSON are imported, as in
Prefect) and the web process's trust (registered hooks and an allowlist only)."""

import collections
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from apps.results.serializers import (
    DecodeTrust,
    JSONSerializer,
    PickleSerializer,
    SerializerConfigError,
    decode_trust,
    decode_trust_set,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def trust():
    before = decode_trust()
    yield decode_trust_set
    decode_trust_set(before)


def test_the_web_trust_is_the_default():
    assert decode_trust() is DecodeTrust.WEB


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import resultdeck", "DecodeTrust.CODE"),
        ("import apps.results.serializers", "DecodeTrust.WEB"),
    ],
)
def test_importing_the_sdk_switches_to_code_trust(code, expected):
    probe = f"{code}\nfrom apps.results.format.trust import decode_trust\nprint(decode_trust())"
    completed = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert completed.stdout.strip() == expected


def test_hooks_named_by_dotted_path_are_imported_only_with_code_trust(trust):
    serializer = JSONSerializer(object_decoder="collections.OrderedDict")
    trust(DecodeTrust.WEB)
    with pytest.raises(SerializerConfigError, match="not registered"):
        serializer.loads(b'{"a": 1}')
    trust(DecodeTrust.CODE)
    assert type(serializer.loads(b'{"a": {"b": 1}}')["a"]) is collections.OrderedDict


def test_bad_exception_types_raise_with_code_trust_and_stay_data_on_the_web(trust):
    blob = b'{"__exc_type__": "no_such_module_for_trust.Boom", "message": "m"}'
    trust(DecodeTrust.WEB)
    assert JSONSerializer().loads(blob) == {"__exc_type__": "no_such_module_for_trust.Boom", "message": "m"}
    trust(DecodeTrust.CODE)
    with pytest.raises(ValueError, match="Invalid exception type"):
        JSONSerializer().loads(blob)
    with pytest.raises(ValueError, match="Invalid exception type"):
        JSONSerializer().loads(b'{"__exc_type__": "builtins.int", "message": "m"}')


def test_classes_not_allowed_are_imported_only_with_code_trust(trust):
    blob = b'{"__class__": "pstats.SortKey", "data": "cumulative"}'
    assert "pstats" not in sys.modules
    trust(DecodeTrust.WEB)
    assert JSONSerializer().loads(blob) == {"__class__": "pstats.SortKey", "data": "cumulative"}
    assert "pstats" not in sys.modules
    trust(DecodeTrust.CODE)
    assert repr(JSONSerializer().loads(blob)) == "<SortKey.CUMULATIVE: 'cumulative'>"


def test_a_pickle_library_is_checked_when_built_with_code_trust(trust):
    trust(DecodeTrust.CODE)
    with pytest.raises(ValidationError, match="no_such_pickle_library"):
        PickleSerializer(picklelib="no_such_pickle_library")
    with pytest.raises(ValidationError, match="'dumps' and 'loads'"):
        PickleSerializer(picklelib="math")
    trust(DecodeTrust.WEB)
    # The web process never unpickles: it reads the config without importing what it names.
    assert PickleSerializer(picklelib="no_such_pickle_library").picklelib == "no_such_pickle_library"

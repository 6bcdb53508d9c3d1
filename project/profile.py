"""The settings profile that `python manage.py config set NAME=value` writes.

Pure module (no Django): settings.py reads it while Django is still starting, and plain scripts
may read it too. The profile is a small TOML file of ``NAME = "value"`` lines at
``$RESULTDECK_PROFILE``, else ``<RESULTDECK_VAR_DIR or ./var>/profile.toml``: it lives beside the
embedded database and broker, so the web process, workers and scripts of one deployment share it.
The environment always wins over the profile.

Prefect's names are accepted as aliases (``PREFECT_RESULTS_PERSIST_BY_DEFAULT``,
``PREFECT_LOCAL_STORAGE_PATH``, ...), so ``config set`` lines copied from Prefect docs work.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

PROFILE_FILENAME = "profile.toml"

# name -> (kind, default); the kind decides how a value is validated and parsed.
PROFILE_SETTINGS: dict[str, tuple[str, str]] = {
    "RESULTS_PERSIST_BY_DEFAULT": ("bool", "false"),
    "RESULTS_DEFAULT_SERIALIZER": ("str", "pickle"),
    "RESULTS_DEFAULT_STORAGE_BLOCK": ("str", ""),
    "RESULTS_LOCAL_STORAGE_PATH": ("str", ""),
}
PROFILE_ALIASES = {
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "RESULTS_PERSIST_BY_DEFAULT",
    "PREFECT_RESULTS_DEFAULT_SERIALIZER": "RESULTS_DEFAULT_SERIALIZER",
    "PREFECT_DEFAULT_RESULT_STORAGE_BLOCK": "RESULTS_DEFAULT_STORAGE_BLOCK",
    "PREFECT_RESULTS_DEFAULT_STORAGE_BLOCK": "RESULTS_DEFAULT_STORAGE_BLOCK",
    "PREFECT_LOCAL_STORAGE_PATH": "RESULTS_LOCAL_STORAGE_PATH",
    "PREFECT_RESULTS_LOCAL_STORAGE_PATH": "RESULTS_LOCAL_STORAGE_PATH",
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ProfileError(ValueError):
    """A bad setting name or value, or an unreadable profile file."""


def profile_path(*, var_dir: str | Path | None = None) -> Path:
    explicit = os.environ.get("RESULTDECK_PROFILE")
    if explicit:
        return Path(explicit).expanduser()
    if var_dir is None:
        var_dir = os.environ.get("RESULTDECK_VAR_DIR") or Path(__file__).resolve().parent.parent / "var"
    return Path(var_dir) / PROFILE_FILENAME


def setting_name_canonical(name: str) -> str:
    upper = name.strip().upper()
    upper = PROFILE_ALIASES.get(upper, upper)
    if upper not in PROFILE_SETTINGS:
        known = ", ".join(sorted(PROFILE_SETTINGS))
        raise ProfileError(f"unknown setting {name!r}; the profile holds: {known}")
    return upper


def setting_value_check(*, name: str, value: str) -> str:
    """The value as stored (booleans normalised to "true"/"false"); ProfileError when invalid."""
    kind, _ = PROFILE_SETTINGS[name]
    value = value.strip()
    if kind == "bool":
        lowered = value.lower()
        if lowered in _TRUE:
            return "true"
        if lowered in _FALSE:
            return "false"
        raise ProfileError(f"{name} must be true or false, not {value!r}")
    return value


def profile_read(*, path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"cannot read the settings profile {path}: {exc}") from exc
    return {str(key): str(value) for key, value in data.items() if key in PROFILE_SETTINGS}


def profile_write(*, path: Path, values: dict[str, str]) -> None:
    # JSON string syntax is valid TOML basic-string syntax for everything json.dumps emits.
    lines = [f"{name} = {json.dumps(value)}" for name, value in sorted(values.items())]
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
    os.replace(temporary, path)


def profile_set(*, path: Path, assignments: dict[str, str]) -> dict[str, str]:
    values = profile_read(path=path)
    for raw_name, raw_value in assignments.items():
        name = setting_name_canonical(raw_name)
        values[name] = setting_value_check(name=name, value=raw_value)
    profile_write(path=path, values=values)
    return values


def profile_unset(*, path: Path, names: list[str]) -> dict[str, str]:
    values = profile_read(path=path)
    for raw_name in names:
        values.pop(setting_name_canonical(raw_name), None)
    profile_write(path=path, values=values)
    return values


def setting_effective(*, name: str, profile: dict[str, str], environ: dict[str, str] | None = None) -> str:
    """The environment's value, else the profile's, else the default (as text)."""
    environ = os.environ if environ is None else environ
    if name in environ:
        return environ[name]
    if name in profile:
        return profile[name]
    return PROFILE_SETTINGS[name][1]


def setting_source(*, name: str, profile: dict[str, str], environ: dict[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    if name in environ:
        return "environment"
    return "profile" if name in profile else "default"


def setting_bool(value: str) -> bool:
    return value.strip().lower() in _TRUE

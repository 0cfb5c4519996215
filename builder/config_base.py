"""Typed, validated config models: unknown keys are rejected by name, wrong types name
the key and what was expected."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from builder.errors import ConfigError


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


M = TypeVar("M", bound=BaseModel)


def describe_validation_error(err: ValidationError, where: str, prefix: str = "") -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in ((prefix,) if prefix else ()) + tuple(first["loc"]))
    if first["type"] == "extra_forbidden":
        return f"{where}: unknown key '{key}' (check the spelling; docs/CONFIG.md lists the build keys, trainer/presets/*.toml the training ones)"
    value = first.get("input")
    shown = f" (got {value!r})" if value is not None and not isinstance(value, dict) else ""
    return f"{where}: key '{key}': {first['msg']}{shown}"


def validate(model: type[M], data: dict[str, Any], where: str = "config", prefix: str = "") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise ConfigError(describe_validation_error(err, where, prefix)) from None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None

"""Presets: TOML files in trainer/presets/ whose keys are TrainConfig fields. Each starts
with a comment showing the command that uses it. A path to any TOML file works too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from builder.config_base import read_toml, validate
from builder.errors import ConfigError
from trainer.config import TrainConfig

PRESET_DIR = Path(__file__).resolve().parent / "presets"
DEFAULT_PRESET = "qlora"


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def preset_path(name: str) -> Path:
    if name.endswith(".toml") or "/" in name:
        path = Path(name)
        if not path.is_file():
            raise ConfigError(f"--preset {name}: file not found")
        return path
    path = PRESET_DIR / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(f"--preset {name}: unknown preset (choose one of: {', '.join(list_presets())}, or a .toml path)")
    return path


def resolve_config(preset: str = DEFAULT_PRESET, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Preset values, then overrides (None values ignored), validated as one TrainConfig."""
    path = preset_path(preset)
    data = read_toml(path)
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
    return validate(TrainConfig, data, where=str(path))

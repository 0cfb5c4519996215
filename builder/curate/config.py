"""The build config (``clonekit.toml``): typed sections, unknown keys rejected by name.

The same file also holds the settings of the TUI's Synthesize, Train and Chat pages
(``[synth]``, ``[train]``, ``[chat]``), so a workspace's whole state is one file.
``clonekit build`` validates those tables but does not use them (they are left out of
the manifest's config). docs/CONFIG.md documents every key. ``load_build_config`` reads the TOML, applies CLI
overrides (a dict of ``"section.key": value``), resolves source paths relative to the
TOML's folder and validates."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, create_model, field_validator

from builder.config_base import StrictModel, describe_validation_error, read_toml, validate
from builder.curate.persona import PersonaConfig
from builder.errors import ConfigError
from builder.synth.config import SynthConfig


class BuildSection(StrictModel):
    name: str = "default"
    sources: list[str] = Field(default_factory=list)
    me: list[str] = Field(default_factory=list)
    groups: bool = True
    seed: int = 0
    root: str | None = None  # datasets root; default $CLONEKIT_DATASETS or ./datasets

    @field_validator("name")
    @classmethod
    def _name_is_a_folder_name(cls, v: str) -> str:
        if not v or "/" in v or "\\" in v or v.startswith("."):
            raise ValueError("must be a plain folder name (no '/', not starting with '.')")
        return v


class ContactsSection(StrictModel):
    # one person -> their other sender names (another platform, a nickname): merged into one contact
    aliases: dict[str, list[str]] = Field(default_factory=dict)
    roles: dict[str, str] = Field(default_factory=dict)  # contact or group chat name -> role tag
    default_role: str = "contact"
    group_role: str = "group"
    include: list[str] = Field(default_factory=list)  # only these contacts / group chats
    exclude: list[str] = Field(default_factory=list)
    include_chats: list[str] = Field(default_factory=list)
    exclude_chats: list[str] = Field(default_factory=list)

    @field_validator("aliases")
    @classmethod
    def _one_person_per_name(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        seen: dict[str, str] = {}
        for person, names in v.items():
            for name in names:
                if name in v and name != person:
                    raise ValueError(f"{name!r} is a person here and also an alias of {person!r}; list it once")
                if name in seen and seen[name] != person:
                    raise ValueError(f"{name!r} is listed for both {seen[name]!r} and {person!r}")
                seen[name] = person
        return v


class SessionsSection(StrictModel):
    merge_minutes: float = Field(5.0, ge=0)
    gap_minutes: float = Field(60.0, gt=0)
    max_tokens: int = Field(3000, gt=0)  # token budget per conversation (split, never truncate)
    min_tokens: int = Field(100, ge=0)  # drop whole sessions shorter than this
    keep_media: bool = False
    media_tag: str = "<media>"


class BalanceSection(StrictModel):
    max_share: float | None = Field(None, gt=0, le=1)
    share_by: Literal["tokens", "conversations"] = "tokens"
    max_conversations: int | None = Field(None, gt=0)
    min_conversations: int = Field(1, ge=0)
    strategy: Literal["random", "recent"] = "random"


class CleanSection(StrictModel):
    dedup: bool = True
    near_dup: bool = True
    near_dup_threshold: float = Field(0.8, gt=0, le=1)
    num_perm: int = Field(32, ge=4, le=512)
    shingle_words: int = Field(3, ge=1, le=16)
    min_tokens: int = Field(0, ge=0)  # per final record, chats and instruction data alike
    max_tokens: int | None = Field(None, gt=0)
    max_chars_per_message: int | None = Field(4000, gt=0)
    pii: bool = False
    pii_types: list[Literal["email", "phone", "url", "card", "iban", "ip"]] = Field(
        default_factory=lambda: ["email", "phone", "url", "card", "iban", "ip"]
    )


class PiiSection(StrictModel):
    """[pii]: how redaction (``clean.pii``) reads national phone numbers and writes placeholders."""

    regions: list[str] = Field(default_factory=list)  # ISO 3166 two-letter codes, e.g. ["GB", "IN"]
    infer_regions: bool = True   # the +CC numbers seen in a chat say which country its numbers are from
    # the machine's locale (LANG=en_GB.UTF-8 -> GB) as the last guess; a build records the
    # region it gave ("GB", or false) in the version's config so a rebuild reads the same
    locale_region: bool | str = True
    consistent: bool = False     # <PHONE_1>, <PHONE_2>: the same value gets the same placeholder

    @field_validator("locale_region")
    @classmethod
    def _known_locale_region(cls, v: bool | str) -> bool | str:
        return v if isinstance(v, bool) else cls._known_regions([v])[0]

    @field_validator("regions")
    @classmethod
    def _known_regions(cls, v: list[str]) -> list[str]:
        if not v:
            return v
        import phonenumbers

        bad = [r for r in v if r.upper() not in phonenumbers.SUPPORTED_REGIONS]
        if bad:
            raise ValueError(f"unknown region {', '.join(bad)}: use ISO 3166 two-letter codes such as GB, IN, DE")
        return [r.upper() for r in v]


class SplitSection(StrictModel):
    val_fraction: float = Field(0.1, ge=0, lt=1)
    by: Literal["conversation", "time"] = "conversation"


class TokenizerSection(StrictModel):
    spec: str = "builtin"


# SynthConfig keys a workspace does not persist: the input version is picked per run, and
# the cache and datasets folders are the workspace's own.
SYNTH_RUNTIME_KEYS = frozenset({"version", "root", "cache_dir"})


def _synth_settings_model() -> type[StrictModel]:
    """[synth]: every SynthConfig field except SYNTH_RUNTIME_KEYS, with the same types,
    defaults and validators, so the table is also what ``clonekit synth --config`` reads.
    Never an API key: only ``api_key_env``, the name of the variable holding it."""
    fields: dict[str, Any] = {name: (f.annotation, f) for name, f in SynthConfig.model_fields.items()
                              if name not in SYNTH_RUNTIME_KEYS}
    validators = {
        f"_check_{name}": field_validator(*d.info.fields, mode=d.info.mode)(d.func.__func__)
        for name, d in SynthConfig.__pydantic_decorators__.field_validators.items()
        if not set(d.info.fields) & SYNTH_RUNTIME_KEYS
    }
    return create_model("SynthSettings", __base__=StrictModel, __validators__=validators,
                        __doc__="The Synthesize page's settings.", **fields)


SynthSettings = _synth_settings_model()


class TrainSettings(StrictModel):
    """The Train page's settings: `clonekit train --preset PRESET --base BASE` plus the
    overrides that are set (unset keys: the preset's value)."""

    preset: str = "tiny-cpu"   # a preset name (`clonekit train --help`) or a .toml file
    base: str = "tiny"         # Hugging Face id, local model folder, or "tiny" (offline test model)
    max_steps: int | None = Field(30, ge=-1)  # -1: train for `epochs`; a short first run by default
    epochs: float | None = Field(None, gt=0)
    lr: float | None = Field(None, gt=0)
    max_length: int | None = Field(None, ge=32)
    lora_r: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=1)
    grad_accum: int | None = Field(None, ge=1)

    def overrides(self) -> dict[str, Any]:
        """The set hyperparameters, as `clonekit train` flags' keys."""
        return {k: v for k, v in self.model_dump(exclude={"preset", "base"}).items() if v is not None}


class ChatSettings(StrictModel):
    """The Chat page's sampling controls."""

    temperature: float = Field(0.7, ge=0, le=5)
    top_p: float = Field(0.95, gt=0, le=1)
    max_new_tokens: int = Field(96, ge=1, le=4096)


# Tables of clonekit.toml that `clonekit build` validates but does not read.
SETTINGS_SECTIONS = frozenset({"synth", "train", "chat"})


class BuildConfig(StrictModel):
    build: BuildSection = Field(default_factory=BuildSection)
    contacts: ContactsSection = Field(default_factory=ContactsSection)
    persona: PersonaConfig = Field(default_factory=PersonaConfig)
    sessions: SessionsSection = Field(default_factory=SessionsSection)
    balance: BalanceSection = Field(default_factory=BalanceSection)
    clean: CleanSection = Field(default_factory=CleanSection)
    pii: PiiSection = Field(default_factory=PiiSection)
    split: SplitSection = Field(default_factory=SplitSection)
    tokenizer: TokenizerSection = Field(default_factory=TokenizerSection)
    synth: SynthSettings = Field(default_factory=SynthSettings)  # type: ignore[valid-type]
    train: TrainSettings = Field(default_factory=TrainSettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)


def _apply_override(data: dict[str, Any], dotted: str, value: Any) -> None:
    section, _, key = dotted.partition(".")
    if not key:
        raise ConfigError(f"override '{dotted}': expected SECTION.KEY")
    target = data.setdefault(section, {})
    if not isinstance(target, dict):
        raise ConfigError(f"config: key '{section}' must be a table")
    target[key] = value


# What a value means where a user types it as a number: errors about it say so.
UNITS = {"balance.max_share": "a fraction: 0.4 means 40%", "split.val_fraction": "a fraction: 0.1 means 10%",
         "clean.near_dup_threshold": "a fraction of shared shingles, 0-1"}


def load_build_config(path: Path | None, overrides: dict[str, Any] | None = None,
                      flags: dict[str, str] | None = None) -> BuildConfig:
    """Read ``path`` (optional), apply ``{"section.key": value}`` overrides (None values
    are skipped), make sources absolute and validate. A bad override value is blamed on
    its flag (``flags``: dotted key -> "--flag"), not on the file it did not come from."""
    data: dict[str, Any] = read_toml(Path(path)) if path is not None else {}
    where = str(path) if path is not None else "config"
    base = Path(path).resolve().parent if path is not None else Path.cwd()
    build = data.get("build")
    if isinstance(build, dict) and isinstance(build.get("sources"), list):
        build["sources"] = [str((base / Path(s).expanduser()).resolve()) if isinstance(s, str) else s
                            for s in build["sources"]]
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        if dotted == "build.sources":
            value = [str(Path(s).expanduser().resolve()) for s in value]
        _apply_override(data, dotted, value)
    try:
        return BuildConfig.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"][:2])
        given = (overrides or {}).get(key)
        if given is not None:
            unit = f" ({UNITS[key]})" if key in UNITS else ""
            flag = (flags or {}).get(key, f"override {key}")
            shown = " ".join(map(str, given)) if isinstance(given, list) else given
            msg = first["msg"].removeprefix("Value error, ")
            raise ConfigError(f"{flag} {shown}: {msg[0].lower()}{msg[1:]}{unit}") from None
        message = describe_validation_error(err, where)
        raise ConfigError(message + (f" ({UNITS[key]})" if key in UNITS and first["type"] != "extra_forbidden" else "")) from None


def config_to_dict(config: BuildConfig) -> dict[str, Any]:
    """The resolved build config as plain JSON-able data (for the manifest): the tables
    the build reads, not the other pages' settings."""
    return config.model_dump(mode="json", exclude=set(SETTINGS_SECTIONS))

"""SynthConfig: every setting of a synthesis run, validated at construction. It is
written (resolved) into the new version's manifest; it never holds the API key itself,
only the name of the environment variable that does."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from builder.config_base import StrictModel, read_toml, validate


class Price(StrictModel):
    input_per_1m: float = Field(ge=0)   # USD per million input tokens
    output_per_1m: float = Field(ge=0)  # USD per million output tokens


class SynthConfig(StrictModel):
    version: str                                   # NAME, NAME/vNNNN or a version folder
    mode: Literal["self-instruct", "facts", "conversations"] = "self-instruct"
    n: int = Field(default=50, ge=1, le=1_000_000)  # synthetic records wanted
    per_call: int = Field(default=5, ge=1, le=50)   # items per request (self-instruct, facts)
    turns: int = Field(default=6, ge=2, le=40)      # messages per synthetic conversation
    few_shot: int = Field(default=4, ge=0, le=50)   # real exchanges shown per request
    contacts: list[str] = Field(default_factory=list)  # restrict to these contacts
    model: str = "gpt-4o-mini"
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = Field(default=0.9, ge=0, le=2)
    max_output_tokens: int = Field(default=1024, ge=16)
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    seed: int = 0
    concurrency: int = Field(default=8, ge=1, le=1024)
    requests_per_min: float | None = Field(default=None, gt=0)
    tokens_per_min: float | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=120.0, gt=0)
    max_retries: int = Field(default=8, ge=0, le=100)
    backoff_base_s: float = Field(default=0.5, ge=0)
    max_cost: float | None = Field(default=None, ge=0)    # USD, hard budget for this run
    max_tokens: int | None = Field(default=None, ge=1)    # input+output tokens, hard budget
    synthetic_share: float = Field(default=0.3, gt=0, lt=1)  # of the output's train tokens
    near_dup_threshold: float = Field(default=0.7, gt=0, le=1)
    tokenizer: str | None = None        # for estimates/n_tokens; default: the version's
    cache_dir: str | None = None        # default $CLONEKIT_CACHE or ./.clonekit-cache
    root: str | None = None             # datasets root; default $CLONEKIT_DATASETS or ./datasets
    prices: dict[str, Price] = Field(default_factory=dict)  # model -> price, overrides the table

    @field_validator("base_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        if not v or not v.replace("_", "").isalnum():
            raise ValueError("must be the NAME of an environment variable (letters, digits, _), not a key")
        return v


def load_synth_config(path: str | None, overrides: dict) -> SynthConfig:
    """[synth] table of a TOML file (optional) with CLI overrides on top."""
    data: dict = {}
    where = "synth options"
    if path:
        # the [synth] table may sit in the project's clonekit.toml beside [build] etc.
        data = dict(read_toml(path).get("synth", {}))
        where = f"{path} [synth]"
    data.update({k: v for k, v in overrides.items() if v is not None})
    return validate(SynthConfig, data, where=where, prefix="synth" if path else "")

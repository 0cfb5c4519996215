"""Epoch timestamps as wall-clock time, for exports that store only an instant
(Slack ``ts``, SMS Backup & Restore ``date``, WeChat ``CreateTime``, Messenger/Instagram
``timestamp_ms``, Telegram ``date_unixtime`` without ``date``, CSV epoch columns).

The Message contract wants the time as the people saw it. An epoch carries no zone, so
it is rendered in the zone named by the ``CLONEKIT_TZ`` environment variable (an IANA
name such as ``Asia/Shanghai``; ``clonekit ingest/build --tz ZONE`` sets it for the run),
else in UTC. Parsers that also have a written local time prefer that."""

from __future__ import annotations

import os

import polars as pl

from builder.errors import ConfigError

ENV = "CLONEKIT_TZ"
EPOCH_S = (-62135596800, 253402300799)  # 0001-01-01 .. 9999-12-31 in seconds


def zone() -> str:
    """The zone epoch times are shown in: ``$CLONEKIT_TZ`` or UTC."""
    name = os.environ.get(ENV, "").strip() or "UTC"
    _check(name, f"{ENV}={name!r}", "or unset it for UTC")
    return name


def set_zone(name: str, flag: str = "--tz") -> None:
    """The command line's ``--tz ZONE``: epoch times of this process (and the processes it
    starts) are shown in ``name``. It is ``$CLONEKIT_TZ`` set for the run, so every
    parser that reads :func:`zone` follows it; a bad name is a one-line error naming ``flag``."""
    name = name.strip()
    _check(name, f"{flag} {name!r}", f"or leave {flag} out for ${ENV} / UTC")
    os.environ[ENV] = name


def _check(name: str, what: str, otherwise: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # only parsers of epoch exports need it

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{what}: not a time zone name (use an IANA name like Asia/Shanghai, {otherwise})") from None


def wall_clock(seconds: pl.Expr, tz: str | None = None) -> pl.Expr:
    """Epoch ``seconds`` (float or int; out-of-range values become null) as a naive
    datetime in ``tz`` (default: :func:`zone`)."""
    tz = tz or zone()
    micros = (seconds.cast(pl.Float64, strict=False) * 1_000_000).round(0)
    micros = pl.when(micros.is_between(EPOCH_S[0] * 1_000_000, EPOCH_S[1] * 1_000_000)).then(micros.cast(pl.Int64))
    instant = pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")
    return instant.dt.convert_time_zone(tz).dt.replace_time_zone(None)

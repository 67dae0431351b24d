"""Configuration: a TOML file, overridden by ``FEEDGEN_<SECTION>_<KEY>`` environment variables.

Everything is validated here, at start-up, so a bad value fails before any work with a message
naming the key. ``config.example.toml`` documents every key; a test keeps the two in step.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from string import Formatter
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .errors import ConfigError
from .model import FeedOptions

ENV_PREFIX = "FEEDGEN_"
CONFIG_ENV = "FEEDGEN_CONFIG"


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite:///var/crm.sqlite"


@dataclass(frozen=True)
class StorageConfig:
    url: str = "file://var/feeds"
    region: str | None = None
    endpoint_url: str | None = None
    cache_control: str | None = None
    upload_workers: int = 8


@dataclass(frozen=True)
class CdnConfig:
    cloudfront_distribution_id: str | None = None


@dataclass(frozen=True)
class PublishConfig:
    public_base_url: str = "http://localhost:8000"
    crm_base_url: str = "https://crm.example.com"
    activity_path: str = "/activities/{id}"
    uid_domain: str = "feedgen.invalid"
    calendar_name: str = "{name} · CRM"
    team_calendar_name: str = "{name} · team · CRM"
    refresh_minutes: int = 60
    max_feed_bytes: int = 1_000_000
    days_back: int = 30
    days_ahead: int = 365


@dataclass(frozen=True)
class WorkerConfig:
    cycle_seconds: float = 5.0
    listen: bool = False
    reconcile_at: time = time(3, 0)
    lookback_seconds: int = 600
    batch_size: int = 200
    # A whole number, or "auto": as many as this process may use cores (``build.parallel``).
    processes: int | str = "auto"
    max_delete_share: float = 0.1
    stop_seconds: int = 30


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "INFO"
    format: str = "text"


@dataclass(frozen=True)
class MetricsConfig:
    port: int = 0  # off; 9464 is the conventional port of an exporter
    address: str = "0.0.0.0"  # every interface, so container probes reach it
    unhealthy_after_cycles: int = 3


@dataclass(frozen=True)
class Config:
    database: DatabaseConfig = DatabaseConfig()
    storage: StorageConfig = StorageConfig()
    cdn: CdnConfig = CdnConfig()
    publish: PublishConfig = PublishConfig()
    worker: WorkerConfig = WorkerConfig()
    logging: LoggingConfig = LoggingConfig()
    metrics: MetricsConfig = MetricsConfig()

    def default_options(self) -> FeedOptions:
        return FeedOptions(days_back=self.publish.days_back, days_ahead=self.publish.days_ahead)

    @property
    def cache_control(self) -> str:
        if self.storage.cache_control:
            return self.storage.cache_control
        return f"public, max-age={self.publish.refresh_minutes * 60}"


# --- value parsers: each takes the raw value (TOML or env string) and returns it or raises ---


def _int(low: int, high: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {value!r}")
        if not low <= value <= high:
            raise ValueError(f"must be from {low} to {high}, got {value}")
        return value

    return parse


def _processes(value: Any) -> int | str:
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        return _int(1, 64)(value)
    except ValueError as exc:
        raise ValueError(f'{exc}, or "auto"') from None


def _float(low: float, high: float) -> Callable[[Any], float]:
    def parse(value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a number, got {value!r}") from None
        if isinstance(value, bool) or not low <= number <= high:
            raise ValueError(f"must be from {low} to {high}, got {value!r}")
        return number

    return parse


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value.strip()


def _optional_text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return _text(value)


def _http_url(value: Any) -> str:
    text = _text(value).rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"expected an http:// or https:// URL, got {text!r}")
    return text


def _public_base_url(value: Any) -> str:
    text = _http_url(value)
    # webcal://<base>/<43-character token>.ics must fit Google Calendar's 256-character limit.
    longest = len(text) - len(text.split("://")[0]) + len("webcal") + 1 + 43 + len(".ics")
    if longest > 256:
        raise ValueError(
            f"too long: feed URLs would be {longest} characters, Google Calendar accepts 256"
        )
    return text


def _optional_http_url(value: Any) -> str | None:
    return None if value in (None, "") else _http_url(value)


def _database_url(value: Any) -> str:
    text = _text(value)
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", text):
        raise ValueError("expected sqlite:///path or postgresql://user@host/db")
    try:
        port = make_url(text).port
    except ValueError:  # SQLAlchemy's int() of the port; its message may quote the password
        raise ValueError(
            "the port is not a number: expected postgresql://user@host:5432/db"
        ) from None
    except ArgumentError:
        raise ValueError("not a database URL: expected postgresql://user@host/db") from None
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"the port must be from 1 to 65535, got {port}")
    return text


def _storage_url(value: Any) -> str:
    text = _text(value)
    scheme = text.split("://", 1)[0] if "://" in text else ""
    if scheme not in ("file", "s3", "memory"):
        raise ValueError("expected file:///path, s3://bucket/prefix or memory://")
    if scheme == "s3" and not urlsplit(text).netloc:
        raise ValueError("an s3:// URL needs a bucket: s3://bucket/prefix")
    return text


def _template(*allowed: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        text = _text(value)
        try:
            fields = [f for _, f, spec, conv in Formatter().parse(text) if f is not None]
        except ValueError as exc:
            raise ValueError(
                f"not a valid template ({exc}); write braces as {{{{ and }}}}"
            ) from None
        for name in fields:
            if name not in allowed:
                raise ValueError(f"unknown placeholder {{{name}}}; use {', '.join(allowed)}")
        try:
            text.format(**{name: "x" for name in allowed})
        except (ValueError, KeyError, IndexError, AttributeError) as exc:
            raise ValueError(f"not a valid template ({exc})") from None
        return text

    return parse


def _clock_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", str(value).strip())
    if not match:
        raise ValueError(f"expected a time of day as HH:MM, got {value!r}")
    return time(int(match[1]), int(match[2]))


def _log_level(value: Any) -> str:
    text = _text(value).upper()
    if text not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("expected DEBUG, INFO, WARNING or ERROR")
    return text


LOG_FORMATS = ("text", "json")


def _log_format(value: Any) -> str:
    text = _text(value).lower()
    if text not in LOG_FORMATS:
        raise ValueError(f"expected {' or '.join(LOG_FORMATS)}, got {value!r}")
    return text


SCHEMA: dict[str, tuple[type, dict[str, Callable[[Any], Any]]]] = {
    "database": (DatabaseConfig, {"url": _database_url}),
    "storage": (
        StorageConfig,
        {
            "url": _storage_url,
            "region": _optional_text,
            "endpoint_url": _optional_http_url,
            "cache_control": _optional_text,
            "upload_workers": _int(1, 64),
        },
    ),
    "cdn": (CdnConfig, {"cloudfront_distribution_id": _optional_text}),
    "publish": (
        PublishConfig,
        {
            "public_base_url": _public_base_url,
            "crm_base_url": _http_url,
            "activity_path": _template("id"),
            "uid_domain": _text,
            "calendar_name": _template("name"),
            "team_calendar_name": _template("name"),
            "refresh_minutes": _int(5, 7 * 24 * 60),
            "max_feed_bytes": _int(10_000, 100_000_000),
            "days_back": _int(0, 3660),
            "days_ahead": _int(0, 3660),
        },
    ),
    "worker": (
        WorkerConfig,
        {
            "cycle_seconds": _float(1, 24 * 3600),
            "listen": _bool,
            "reconcile_at": _clock_time,
            "lookback_seconds": _int(0, 7 * 24 * 3600),
            "batch_size": _int(1, 100_000),
            "processes": _processes,
            "max_delete_share": _float(0.0, 1.0),
            "stop_seconds": _int(1, 3600),
        },
    ),
    "logging": (LoggingConfig, {"level": _log_level, "format": _log_format}),
    "metrics": (
        MetricsConfig,
        {"port": _int(0, 65535), "address": _text, "unhealthy_after_cycles": _int(1, 1000)},
    ),
}

# Keys still read under their old names: section -> old key -> (new key, parser of the old value
# into the new key's). Giving both is an error naming both.
RENAMED: dict[str, dict[str, tuple[str, Callable[[Any], Any]]]] = {
    "worker": {
        "cycle_minutes": ("cycle_seconds", lambda value: _float(0.1, 24 * 60)(value) * 60),
    },
}


def load_config(path: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Config:
    """Read ``path`` (or none: defaults), apply environment overrides and validate every key."""
    raw: dict[str, Any] = {}
    if path is not None:
        raw = _read_toml(Path(path))
    for name, value in raw.items():
        if name not in SCHEMA:
            raise ConfigError(name, f"unknown section; known: {', '.join(SCHEMA)}")
        if not isinstance(value, dict):
            raise ConfigError(name, "expected a [section] table")
    sections = {}
    for section, (cls, parsers) in SCHEMA.items():
        renamed = RENAMED.get(section, {})
        values = dict(raw.get(section, {}))
        for key in values:
            if key not in parsers and key not in renamed:
                raise ConfigError(f"{section}.{key}", f"unknown key; known: {', '.join(parsers)}")
        for key in [*parsers, *renamed]:
            env_name = f"{ENV_PREFIX}{section}_{key}".upper()
            if env_name in environ:
                values[key] = environ[env_name]
        parsed = {}
        for key, value in values.items():
            new, parser = renamed.get(key) or (key, parsers[key])
            if new != key and new in values:
                raise ConfigError(
                    f"{section}.{key}", f"give {section}.{new} or {section}.{key}, not both"
                )
            try:
                parsed[new] = parser(value)
            except ValueError as exc:
                raise ConfigError(f"{section}.{key}", str(exc)) from None
        sections[section] = cls(**parsed)
    config = Config(**sections)
    if config.worker.listen and not config.database.url.startswith("postgresql"):
        raise ConfigError("worker.listen", "needs a PostgreSQL database.url (LISTEN/NOTIFY)")
    return config


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError("--config", f"no such file: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("--config", f"{path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError("--config", f"cannot read {path}: {exc.strerror}") from None

"""Configuration: defaults, the TOML file, environment overrides and validation naming the key."""

from __future__ import annotations

import re
import tomllib
from datetime import time
from pathlib import Path

import pytest

from feedgen.config import SCHEMA, Config, load_config
from feedgen.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feedgen.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Config:
    return load_config(write(tmp_path, text), environ or {})


# --- where values come from -------------------------------------------------------------------


def test_without_file_or_environment_every_key_has_its_default() -> None:
    config = load_config(None, {})
    assert config == Config()
    assert (config.database.url, config.storage.url) == (
        "sqlite:///var/crm.sqlite",
        "file://var/feeds",
    )
    assert (config.publish.days_back, config.publish.days_ahead) == (30, 365)
    assert config.worker.reconcile_at == time(3, 0)


def test_the_file_sets_keys_and_leaves_the_rest_at_their_defaults(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        [database]
        url = "postgresql+psycopg2://feedgen@db.internal/crm"
        [storage]
        url = "s3://tesoro-feeds/calendars"
        region = "eu-central-1"
        [publish]
        public_base_url = "https://cal.tesoro.example/"
        refresh_minutes = 30
        [worker]
        reconcile_at = "02:15"
        """,
    )
    assert config.database.url == "postgresql+psycopg2://feedgen@db.internal/crm"
    assert (config.storage.url, config.storage.region) == (
        "s3://tesoro-feeds/calendars",
        "eu-central-1",
    )
    assert config.publish.public_base_url == "https://cal.tesoro.example"
    assert config.publish.refresh_minutes == 30
    assert config.worker.reconcile_at == time(2, 15)
    assert config.publish.uid_domain == "feedgen.invalid"
    assert config.logging.level == "INFO"


def test_a_toml_local_time_is_accepted_as_the_reconcile_time(tmp_path: Path) -> None:
    assert load(tmp_path, "[worker]\nreconcile_at = 04:30:00").worker.reconcile_at == time(4, 30)


def test_processes_are_a_whole_number_or_auto_by_default(tmp_path: Path) -> None:
    assert load_config(None, {}).worker.processes == "auto"
    assert load(tmp_path, "[worker]\nprocesses = 3").worker.processes == 3
    assert load_config(None, {"FEEDGEN_WORKER_PROCESSES": "Auto"}).worker.processes == "auto"
    assert load_config(None, {"FEEDGEN_WORKER_PROCESSES": "64"}).worker.processes == 64


def test_the_environment_overrides_the_file(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[storage]\nurl = "file:///srv/feeds"\n[publish]\nrefresh_minutes = 30',
        {
            "FEEDGEN_STORAGE_URL": "s3://tesoro-feeds/prod",
            "FEEDGEN_DATABASE_URL": "postgresql://feedgen@db.internal/crm",
            "FEEDGEN_PUBLISH_REFRESH_MINUTES": "120",
            "FEEDGEN_WORKER_CYCLE_SECONDS": "2.5",
        },
    )
    assert config.storage.url == "s3://tesoro-feeds/prod"
    assert config.database.url == "postgresql://feedgen@db.internal/crm"
    assert config.publish.refresh_minutes == 120
    assert config.worker.cycle_seconds == 2.5


def test_an_empty_environment_value_unsets_an_optional_key(tmp_path: Path) -> None:
    config = load(tmp_path, '[storage]\nregion = "eu-central-1"', {"FEEDGEN_STORAGE_REGION": ""})
    assert config.storage.region is None


def test_environment_variables_of_other_programs_are_ignored() -> None:
    environ = {"PATH": "/usr/bin", "AWS_REGION": "us-east-1", "FEEDGEN_CONFIG": "/etc/feedgen.toml"}
    assert load_config(None, environ) == Config()


# --- the worker's interval and wake-ups --------------------------------------------------------


def test_the_cycle_interval_is_set_in_seconds(tmp_path: Path) -> None:
    assert load(tmp_path, "[worker]\ncycle_seconds = 20").worker.cycle_seconds == 20


def test_the_old_interval_in_minutes_is_still_read_and_converted(tmp_path: Path) -> None:
    assert load(tmp_path, "[worker]\ncycle_minutes = 2.5").worker.cycle_seconds == 150
    config = load_config(None, {"FEEDGEN_WORKER_CYCLE_MINUTES": "0.5"})
    assert config.worker.cycle_seconds == 30


@pytest.mark.parametrize(
    ("text", "environ"),
    [
        ("[worker]\ncycle_minutes = 5\ncycle_seconds = 30", {}),
        ("[worker]\ncycle_seconds = 30", {"FEEDGEN_WORKER_CYCLE_MINUTES": "5"}),
    ],
)
def test_the_interval_in_both_units_is_refused_naming_both_keys(
    tmp_path: Path, text: str, environ: dict[str, str]
) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text, environ)
    assert "worker.cycle_minutes" in str(raised.value)
    assert "worker.cycle_seconds" in str(raised.value)


def test_listening_for_notifications_is_off_unless_asked_and_read_from_the_environment() -> None:
    assert load_config(None, {}).worker.listen is False
    environ = {"FEEDGEN_DATABASE_URL": "postgresql://feedgen@db/crm", "FEEDGEN_WORKER_LISTEN": "1"}
    assert load_config(None, environ).worker.listen is True


def test_listening_for_notifications_on_sqlite_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, '[database]\nurl = "sqlite:///crm.sqlite"\n[worker]\nlisten = true')
    assert raised.value.key == "worker.listen" and "PostgreSQL" in str(raised.value)


# --- what is refused --------------------------------------------------------------------------


def test_an_unknown_section_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'publishing'") as raised:
        load(tmp_path, '[publishing]\npublic_base_url = "https://cal.tesoro.example"')
    assert raised.value.key == "publishing"


def test_an_unknown_key_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'storage.bucket'") as raised:
        load(tmp_path, '[storage]\nbucket = "tesoro-feeds"')
    assert raised.value.key == "storage.bucket"


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("database", "url", '"mysql://crm@db.internal/crm"'),
        ("database", "url", '"db.internal/crm"'),
        ("storage", "url", '"ftp://files.tesoro.example/feeds"'),
        ("storage", "url", '"s3:///no-bucket"'),
        ("storage", "endpoint_url", '"minio.internal:9000"'),
        ("storage", "upload_workers", "0"),
        ("publish", "public_base_url", '"cal.tesoro.example"'),
        ("publish", "crm_base_url", '"ftp://crm.tesoro.example"'),
        ("publish", "days_back", "-1"),
        ("publish", "days_ahead", "3661"),
        ("publish", "refresh_minutes", "-60"),
        ("publish", "refresh_minutes", "1.5"),
        ("publish", "max_feed_bytes", "true"),
        ("publish", "uid_domain", '""'),
        ("publish", "calendar_name", '"{user} · CRM"'),
        ("publish", "team_calendar_name", '"{0} · team"'),
        ("publish", "activity_path", '"/activities/{activity_id}"'),
        ("worker", "reconcile_at", '"25:00"'),
        ("worker", "reconcile_at", '"3 am"'),
        ("worker", "cycle_minutes", "0"),
        ("worker", "cycle_seconds", "0.5"),
        ("worker", "cycle_seconds", '"often"'),
        ("worker", "listen", '"sometimes"'),
        ("worker", "lookback_seconds", "-600"),
        ("worker", "processes", "0"),
        ("worker", "processes", "65"),
        ("worker", "processes", '"all"'),
        ("logging", "level", '"VERBOSE"'),
    ],
)
def test_a_bad_value_is_refused_naming_the_key(
    tmp_path: Path, section: str, key: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=f"'{section}.{key}'") as raised:
        load(tmp_path, f"[{section}]\n{key} = {value}")
    assert raised.value.key == f"{section}.{key}"


@pytest.mark.parametrize(
    ("variable", "value", "key"),
    [
        ("FEEDGEN_PUBLISH_DAYS_BACK", "-5", "publish.days_back"),
        ("FEEDGEN_PUBLISH_DAYS_AHEAD", "a year", "publish.days_ahead"),
        ("FEEDGEN_WORKER_RECONCILE_AT", "25:00", "worker.reconcile_at"),
        ("FEEDGEN_LOGGING_LEVEL", "loud", "logging.level"),
        ("FEEDGEN_DATABASE_URL", "oracle://crm", "database.url"),
    ],
)
def test_a_bad_environment_value_is_refused_naming_the_key(
    variable: str, value: str, key: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(None, {variable: value})
    assert raised.value.key == key


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("calendar_name", "{name · CRM"),
        ("calendar_name", "CRM} {name}"),
        ("activity_path", "/a/{id"),
    ],
)
def test_a_malformed_template_is_refused_naming_the_key(
    tmp_path: Path, key: str, value: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, f'[publish]\n{key} = "{value}"')
    assert raised.value.key == f"publish.{key}"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://crm:s3cret@db.internal:notaport/crm", "the port is not a number"),
        ("postgresql://crm:s3cret@db.internal:99999/crm", "from 1 to 65535, got 99999"),
    ],
)
def test_a_database_url_with_a_bad_port_is_refused_without_its_password(
    url: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(None, {"FEEDGEN_DATABASE_URL": url})
    assert raised.value.key == "database.url" and reason in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "feedgen.toml", {})


def test_a_malformed_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(tmp_path, '[storage]\nurl = "file:///srv/feeds\n')


def test_a_key_outside_any_section_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'url'"):
        load(tmp_path, 'url = "sqlite:///crm.sqlite"')


# --- the documented example -------------------------------------------------------------------

_SECTION = re.compile(r"^\[(\w+)\]\s*$")
_KEY = re.compile(r"^(?:#\s*)?(\w+)\s*=\s*\S")


def documented_keys() -> dict[str, str]:
    """Every ``key = value`` of the example, commented out or not, as ``section.key`` -> line."""
    found: dict[str, str] = {}
    section = None
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if match := _SECTION.match(line):
            section = match[1]
        elif section and (match := _KEY.match(line)):
            found[f"{section}.{match[1]}"] = line.lstrip("#").strip()
    return found


def test_every_documented_key_is_known() -> None:
    known = {f"{s}.{k}" for s, (_cls, parsers) in SCHEMA.items() for k in parsers}
    assert sorted(set(documented_keys()) - known) == []


def test_every_known_key_is_documented() -> None:
    known = {f"{s}.{k}" for s, (_cls, parsers) in SCHEMA.items() for k in parsers}
    assert sorted(known - set(documented_keys())) == []


def test_the_example_shows_the_defaults() -> None:
    assert load_config(EXAMPLE, {}) == Config()


def test_the_commented_out_examples_are_valid(tmp_path: Path) -> None:
    sections: dict[str, list[str]] = {}
    for key, line in documented_keys().items():
        sections.setdefault(key.split(".")[0], []).append(line)
    text = "\n".join(f"[{s}]\n" + "\n".join(lines) for s, lines in sections.items())
    tomllib.loads(text)
    load(tmp_path, text)

"""config show (the effective settings, secrets masked) and config check (each connection)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from feedgen.cli import cli
from feedgen.cli.helpers import RET_CONFIG, RET_OK, RET_SOURCE, RET_STORAGE
from tests.cli.invoking import assert_one_line_error, invoke
from tests.support.aws import create_distribution


def test_show_prints_the_effective_settings_as_toml_saying_where_each_came_from(
    runner: CliRunner, config: Path
) -> None:
    result = runner.invoke(
        cli, ["config", "show", "--config", str(config)], env={"FEEDGEN_WORKER_BATCH_SIZE": "50"}
    )
    assert result.exit_code == RET_OK, result.output
    shown = tomllib.loads(result.output)
    assert shown["publish"]["public_base_url"] == "https://cal.tesoro.example"
    assert shown["worker"]["batch_size"] == 50 and shown["worker"]["processes"] == "auto"
    lines = result.output.splitlines()
    assert 'public_base_url = "https://cal.tesoro.example"  # file' in lines
    assert "batch_size = 50  # env" in lines and 'processes = "auto"  # default' in lines


def test_show_masks_the_database_password(runner: CliRunner, config: Path) -> None:
    env = {"FEEDGEN_DATABASE_URL": "postgresql://feedgen:s3cr3t@db.internal:5432/crm"}
    result = runner.invoke(cli, ["--config", str(config), "config", "show"], env=env)
    assert result.exit_code == RET_OK and "s3cr3t" not in result.output
    assert tomllib.loads(result.output)["database"]["url"] == (
        "postgresql://feedgen:***@db.internal:5432/crm"
    )


def test_show_of_a_bad_file_exits_3(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "feedgen.toml"
    path.write_text('[storage]\nbucket = "x"\n', encoding="utf-8")
    assert "storage.bucket" in assert_one_line_error(
        invoke(runner, path, "config", "show"), RET_CONFIG
    )


def test_check_passes_on_sqlite_and_a_local_folder_and_leaves_no_probe(
    runner: CliRunner, config: Path, anna: int, tmp_path: Path
) -> None:
    (tmp_path / "feeds").mkdir()
    result = invoke(runner, config, "config", "check")
    assert result.exit_code == RET_OK, result.output
    lines = result.output.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "✓ configuration",
        "✓ database",
        "✓ tables",
        "✓ storage",
        "✓ CDN",
    ]
    assert lines[-1] == "✓ CDN: not configured"
    assert list((tmp_path / "feeds").iterdir()) == []


def test_check_names_an_unreachable_database_and_exits_4(
    runner: CliRunner, config: Path, tmp_path: Path
) -> None:
    (tmp_path / "feeds").mkdir()
    env = {"FEEDGEN_DATABASE_URL": "postgresql+psycopg2://nobody@127.0.0.1:1/crm"}
    result = runner.invoke(cli, ["--config", str(config), "config", "check"], env=env)
    assert result.exit_code == RET_SOURCE
    assert "✗ database: cannot connect to the database" in result.stdout
    assert "- tables: not checked (no database)" in result.stdout
    assert "✓ storage: " in result.stdout
    assert result.stderr.startswith("Error: cannot connect to the database")


def test_check_of_a_bad_file_exits_3(runner: CliRunner, tmp_path: Path) -> None:
    result = invoke(runner, tmp_path / "nowhere.toml", "config", "check")
    assert result.exit_code == RET_CONFIG
    assert result.stdout.startswith("✗ configuration: config key '--config': no such file")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """Moto's S3 and CloudFront in this process: a bucket and a distribution."""
    import boto3
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket="tesoro-feeds")
        yield create_distribution(boto3.client("cloudfront"), "tesoro-feeds")


def test_check_writes_and_deletes_a_probe_in_s3_and_reads_the_distribution(
    runner: CliRunner, config: Path, anna: int, aws: str
) -> None:
    import boto3

    env = {
        "FEEDGEN_STORAGE_URL": "s3://tesoro-feeds/calendars",
        "FEEDGEN_STORAGE_REGION": "us-east-1",
        "FEEDGEN_CDN_CLOUDFRONT_DISTRIBUTION_ID": aws,
    }
    result = runner.invoke(cli, ["--config", str(config), "config", "check"], env=env)
    assert result.exit_code == RET_OK, result.output
    assert "✓ storage: s3://tesoro-feeds/calendars writable" in result.output
    assert f"✓ CDN: CloudFront distribution {aws} reachable" in result.output
    assert "Contents" not in boto3.client("s3").list_objects_v2(Bucket="tesoro-feeds")


def test_check_names_a_distribution_that_cannot_be_read_and_exits_5(
    runner: CliRunner, config: Path, anna: int, aws: str, tmp_path: Path
) -> None:
    (tmp_path / "feeds").mkdir()
    env = {"FEEDGEN_CDN_CLOUDFRONT_DISTRIBUTION_ID": "ENOSUCHDIST"}
    result = runner.invoke(cli, ["--config", str(config), "config", "check"], env=env)
    assert result.exit_code == RET_STORAGE
    assert result.stdout.splitlines()[-1].startswith("✗ CDN: CloudFront distribution ENOSUCHDIST")
    assert result.stderr.startswith("Error: CloudFront distribution ENOSUCHDIST cannot be read")

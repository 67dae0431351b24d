"""Running a command through click's CliRunner and reading what it printed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click
from click.testing import CliRunner, Result

from feedgen.cli import cli

BASE_URL = "https://cal.tesoro.example"


def invoke(runner: CliRunner, config: Path, *args: str) -> Result:
    return runner.invoke(cli, ["--config", str(config), *args])


def feed_url(result: Result) -> str:
    match = re.search(r"^feed:\s+(\S+)$", result.output, re.MULTILINE)
    assert match, result.output
    return match[1]


def assert_one_line_error(result: Result, code: int) -> str:
    """The error is a single ``Error: ...`` line with the exit code, and no traceback."""
    assert result.exit_code == code, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    return lines[0]


def json_document(result: Result) -> Any:
    """The one JSON document a --json command printed: stdout holds it and nothing else."""
    return json.loads(result.stdout)


def command_paths(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    """Every command under ``group`` as the words that name it (["feed", "issue"]), groups too."""
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append([*prefix, name])
        if isinstance(command, click.Group):
            paths += command_paths(command, (*prefix, name))
    return paths

"""The README documents the whole command line: every command and every option of each."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from feedgen.cli import cli
from tests.cli.invoking import command_paths

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


def command_at(path: list[str]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_every_command_is_in_the_readme(path: list[str]) -> None:
    assert f"feedgen {' '.join(path)}" in README


@pytest.mark.parametrize("path", [[], *command_paths()], ids=lambda path: " ".join(path) or "-")
def test_every_option_is_in_the_readme(path: list[str]) -> None:
    command = command_at(path)
    names = [
        name
        for param in command.params
        if isinstance(param, click.Option)
        for name in (*param.opts, *param.secondary_opts)
        if name.startswith("--") and name != "--help"
    ]
    missing = [name for name in names if not re.search(rf"(?<![\w-]){name}(?![\w-])", README)]
    assert missing == []

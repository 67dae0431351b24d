"""Reading the deployment files (deploy/, the Dockerfile) for tests: the Dockerfile's stages,
the configuration keys the files may name, and a check of a config.toml they ship.

The keys are feedgen.config.SCHEMA's: a file naming any other fails as feedgen fails at start-up.
"""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path
from typing import Any

from dockerfile_parse import DockerfileParser

from feedgen.config import CONFIG_ENV, ENV_PREFIX, SCHEMA, Config, load_config

ROOT = Path(__file__).resolve().parent.parent.parent
Instruction = tuple[str, str]  # (INSTRUCTION, its value)


def schema_keys() -> set[str]:
    return {f"{section}.{key}" for section, (_, parsers) in SCHEMA.items() for key in parsers}


def env_key(name: str) -> str | None:
    """The key ``FEEDGEN_<SECTION>_<KEY>`` overrides, or None for one that overrides none."""
    for key in schema_keys():
        if f"{ENV_PREFIX}{key.replace('.', '_')}".upper() == name:
            return key
    return None


def unknown_env(names: list[str]) -> list[str]:
    """The FEEDGEN_* names of ``names`` that are neither FEEDGEN_CONFIG nor a key's override."""
    return [
        name
        for name in names
        if name.startswith(ENV_PREFIX) and name != CONFIG_ENV and env_key(name) is None
    ]


def check_config(text: str, folder: Path) -> tuple[Config, dict[str, Any]]:
    """Validate a shipped config.toml with feedgen's own loader; also return it as TOML."""
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, {}), tomllib.loads(text)


def stages() -> list[list[Instruction]]:
    """The Dockerfile's stages, each its instructions from FROM on."""
    found: list[list[Instruction]] = []
    for item in DockerfileParser(str(ROOT / "Dockerfile")).structure:
        if item["instruction"] == "FROM":
            found.append([])
        if item["instruction"] != "COMMENT":
            found[-1].append((item["instruction"], item["value"]))
    return found


def final(instruction: str) -> list[str]:
    """The values of ``instruction`` in the image's (the last) stage."""
    return [value for name, value in stages()[-1] if name == instruction]


def image_env() -> dict[str, str]:
    return dict(word.split("=", 1) for value in final("ENV") for word in shlex.split(value))

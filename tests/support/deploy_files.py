"""Reading the deployment files (deploy/, the Dockerfile) for tests: the Dockerfile's stages,
the configuration keys the files may name, and a check of a config.toml they ship.

The keys are feedgen.config.SCHEMA's, and the metrics and log-format settings the worker's metrics
endpoint brings (PENDING) while SCHEMA lacks them: once SCHEMA has a key, its values are validated
by feedgen itself like any other, and its PENDING entry does nothing.
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

PENDING = {
    "metrics": {"port", "address", "unhealthy_after_cycles"},
    "logging": {"format"},
}


def schema_keys() -> set[str]:
    return {f"{section}.{key}" for section, (_, parsers) in SCHEMA.items() for key in parsers}


def known_keys() -> set[str]:
    return schema_keys() | {f"{section}.{key}" for section, keys in PENDING.items() for key in keys}


def env_key(name: str) -> str | None:
    """The key ``FEEDGEN_<SECTION>_<KEY>`` overrides, or None for one that overrides none."""
    for key in known_keys():
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
    """Validate a shipped config.toml with feedgen's loader; also return it as TOML.

    Keys feedgen does not know yet (PENDING) are left out of what the loader sees; any other
    unknown key or bad value fails as it fails feedgen at start-up.
    """
    raw = tomllib.loads(text)
    known = schema_keys()
    lines = []
    for section, values in raw.items():
        kept = {k: v for k, v in values.items() if f"{section}.{k}" in known}
        unknown = {k for k in values if f"{section}.{k}" not in known_keys()}
        if kept or unknown or section in SCHEMA:
            lines.append(f"[{section}]")
            for key in sorted(kept.keys() | unknown):
                lines.append(f"{key} = {_toml(values[key])}")
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_config(path, {}), raw


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


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

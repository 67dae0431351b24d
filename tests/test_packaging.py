"""The sdist and the wheel: what they hold, and a clean venv that installs each and runs feedgen.

``python -m build`` makes the sdist from a copy of the tree and the wheel from that sdist, with the
newest setuptools in an isolated environment; the wheel is installed with a C compiler at hand, the
sdist without one (``CC=/bin/false``), each in a fresh venv (pip's cache keeps the dependencies
cheap). ``FEEDGEN_TEST_DIST=DIR`` checks the artefacts already in DIR instead (``make dist-check``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("feedgen", "jobs")  # pyproject.toml's [tool.setuptools.packages.find] include
REPO_URL = "https://github.com/tesoro/feedgen"
# Never part of a distribution: at the top of the tree, and anywhere in it.
LOCAL = {".git", ".venv", "var", "build", "dist", "out", "feeds"}
CACHES = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis"}
BUILT = (".pyc", ".pyo", ".so", ".pyd", ".egg-info")


@dataclass(frozen=True)
class Dists:
    tree: Path  # the tree they were built from
    sdist: Path
    wheel: Path


def run(
    args: Sequence[str | Path], cwd: Path | None = None, env: dict[str, str] | None = None
) -> str:
    """Run a command: what it printed, stdout then stderr; on failure the assertion shows it."""
    command = [str(arg) for arg in args]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (
        f"{' '.join(command)} exited {done.returncode}\n"
        f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"
    )
    return done.stdout + done.stderr


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without feedgen's settings or a path into the tree."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDGEN_")}
    env.pop("PYTHONPATH", None)
    return {**env, **extra}


def unshipped(name: str) -> bool:
    return name in CACHES or name.endswith(BUILT)


def copy_tree(target: Path) -> Path:
    def ignore(folder: str, names: list[str]) -> set[str]:
        at_top = Path(folder) == ROOT
        return {n for n in names if unshipped(n) or (at_top and n in LOCAL)}

    shutil.copytree(ROOT, target, ignore=ignore)
    return target


def package_files(tree: Path, suffix: str = "") -> set[str]:
    """The files under the packages, or those ending in ``suffix``."""
    found = set()
    for package in PACKAGES:
        for path in (tree / package).rglob(f"*{suffix}"):
            relative = path.relative_to(tree)
            if path.is_file() and not any(unshipped(part) for part in relative.parts):
                found.add(relative.as_posix())
    return found


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    given = os.environ.get("FEEDGEN_TEST_DIST")
    if given:
        folder = Path(given).resolve()
        sdists, wheels = list(folder.glob("*.tar.gz")), list(folder.glob("*.whl"))
        assert len(sdists) == 1 and len(wheels) == 1, f"{folder}: want one sdist and one wheel"
        return Dists(ROOT, sdists[0], wheels[0])
    tree = copy_tree(tmp_path_factory.mktemp("tree") / "feedgen")
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", out, tree], env=clean_env())
    return Dists(tree, next(out.glob("*.tar.gz")), next(out.glob("*.whl")))


@pytest.fixture(scope="module")
def wheel_names(dists: Dists) -> set[str]:
    with zipfile.ZipFile(dists.wheel) as wheel:
        return set(wheel.namelist())


@pytest.fixture(scope="module")
def sdist_names(dists: Dists) -> set[str]:
    with tarfile.open(dists.sdist) as sdist:
        # Names relative to the sdist's top folder (feedgen-<version>/).
        return {name.partition("/")[2] for name in sdist.getnames() if "/" in name}


def metadata(dists: Dists) -> Message:
    with zipfile.ZipFile(dists.wheel) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(wheel.read(name).decode())


def make_venv(path: Path, install: Path, **env: str) -> tuple[Path, str]:
    """A fresh venv with only what ``pip install`` brings for ``install``: its bin/, and what
    pip printed with the build's own output (``-v``)."""
    run([sys.executable, "-m", "venv", path])
    bin_dir = path / "bin"
    printed = run([bin_dir / "python", "-m", "pip", "install", "-v", install], env=clean_env(**env))
    return bin_dir, printed


def smoke(bin_dir: Path, work: Path) -> str:
    """feedgen from a venv on the embedded default (SQLite, a local folder); its status."""
    config = work / "feedgen.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{work}/crm.sqlite"\n'
        f'[storage]\nurl = "file://{work}/feeds"\n'
        '[publish]\npublic_base_url = "http://localhost:8000"\n'
        'crm_base_url = "https://crm.example.com"\n'
    )
    env = clean_env(FEEDGEN_CONFIG=str(config))
    feedgen = bin_dir / "feedgen"
    # Run outside the tree, so nothing is imported from it.
    assert metadata_version(bin_dir) in run([feedgen, "--version"], cwd=work, env=env)
    usage = run([feedgen, "--help"], cwd=work, env=env)
    assert "build" in usage and "demo" in usage
    run([feedgen, "demo", "--users", "5", "--teams", "2"], cwd=work, env=env)
    run([feedgen, "build"], cwd=work, env=env)
    feeds = list((work / "feeds").glob("*.ics"))
    assert len(feeds) >= 5
    assert all(feed.read_bytes().startswith(b"BEGIN:VCALENDAR\r\n") for feed in feeds)
    return run([feedgen, "status"], cwd=work, env=env)


def metadata_version(bin_dir: Path) -> str:
    code = "import importlib.metadata as m; print(m.version('feedgen'))"
    return run([bin_dir / "python", "-c", code], cwd=bin_dir).strip()


def installed_extensions(bin_dir: Path) -> list[Path]:
    code = "import sysconfig; print(sysconfig.get_paths()['platlib'])"
    site = Path(run([bin_dir / "python", "-c", code], cwd=bin_dir).strip())
    return [path for package in PACKAGES for path in (site / package).rglob("*.so")]


# --- what the distributions hold --------------------------------------------------------------


def test_the_wheel_holds_every_file_of_the_packages(dists: Dists, wheel_names: set[str]) -> None:
    # All but the C source, which is compiled: data files wherever a re-layout puts them.
    assert package_files(dists.tree) - package_files(dists.tree, ".c") <= wheel_names


def test_the_wheel_holds_the_migrations_and_the_typing_marker(wheel_names: set[str]) -> None:
    assert "feedgen/py.typed" in wheel_names
    migrations = [n for n in wheel_names if "/migrations/" in n]
    assert any(n.endswith("/env.py") for n in migrations)
    assert any(n.endswith("/script.py.mako") for n in migrations)
    assert any("/versions/0001_" in n for n in migrations)


def test_the_wheel_holds_neither_tests_nor_c_source(wheel_names: set[str]) -> None:
    top = {name.split("/")[0] for name in wheel_names}
    assert {name for name in top if not name.endswith(".dist-info")} == set(PACKAGES)
    assert not [name for name in wheel_names if name.endswith(".c")]


@pytest.mark.skipif(
    shutil.which(os.environ.get("CC", "cc").split()[0]) is None
    or bool(os.environ.get("FEEDGEN_TEST_DIST")),
    reason="no C compiler here, or checking a wheel built elsewhere",
)
def test_the_wheel_built_with_a_compiler_holds_the_c_serialiser(wheel_names: set[str]) -> None:
    assert [name for name in wheel_names if name.endswith(".so") and "_speedups" in name]


def test_the_sdist_holds_the_sources_the_docs_and_the_tests(
    dists: Dists, sdist_names: set[str]
) -> None:
    assert package_files(dists.tree, ".c")
    assert package_files(dists.tree) <= sdist_names
    for name in ("README.md", "SECURITY.md", "config.example.toml", "pyproject.toml", "setup.py"):
        assert name in sdist_names
    assert "tests/conftest.py" in sdist_names and "tests/factories.py" in sdist_names
    assert not [name for name in sdist_names if name.endswith((".so", ".pyc"))]


def test_the_metadata_names_licence_urls_and_classifiers(dists: Dists) -> None:
    meta = metadata(dists)
    assert meta["License-Expression"] == "MIT"
    assert meta["Requires-Python"] == ">=3.11"
    urls = dict(url.split(", ", 1) for url in meta.get_all("Project-URL", []))
    assert {"Homepage", "Documentation", "Source", "Issues"} <= urls.keys()
    assert all(url.startswith(REPO_URL) for url in urls.values())
    assert "Typing :: Typed" in meta.get_all("Classifier", [])


def test_the_build_backend_at_its_lower_bounds_builds_the_wheel(tmp_path: Path) -> None:
    # Each `name>=X` of [build-system] requires pinned to X: the floors must read pyproject.toml.
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    floors = []
    for text in requires:
        requirement = Requirement(text)
        lower = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        assert lower, f"{text}: no lower bound"
        floors.append(f"{requirement.name}=={lower[0]}")
    constraints = tmp_path / "floors.txt"
    constraints.write_text("\n".join(floors) + "\n")
    tree = copy_tree(tmp_path / "tree")
    out = tmp_path / "dist"
    env = clean_env(PIP_CONSTRAINT=str(constraints))
    run([sys.executable, "-m", "build", "--wheel", "--outdir", out, tree], env=env)
    with zipfile.ZipFile(next(out.glob("*.whl"))) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith(".dist-info/WHEEL"))
        generator = wheel.read(name).decode()
    setuptools = next(f for f in floors if f.startswith("setuptools=="))
    assert f"Generator: setuptools ({setuptools.partition('==')[2]})" in generator


# --- installed in a clean venv ----------------------------------------------------------------


def test_the_wheel_installs_and_runs(dists: Dists, tmp_path: Path) -> None:
    bin_dir, _ = make_venv(tmp_path / "venv", dists.wheel)
    status = smoke(bin_dir, tmp_path)
    serialiser = "serialiser: C" if installed_extensions(bin_dir) else "serialiser: Python"
    assert serialiser in status


def test_the_sdist_installs_and_runs_without_a_c_compiler(dists: Dists, tmp_path: Path) -> None:
    # A path of its own: pip caches the wheel it builds under the sdist's path, not its content.
    sdist = shutil.copy(dists.sdist, tmp_path)
    bin_dir, printed = make_venv(tmp_path / "venv", Path(sdist), CC="/bin/false")
    assert "NOTE: feedgen's C serialiser (feedgen._speedups) was not built" in printed
    assert installed_extensions(bin_dir) == []
    status = smoke(bin_dir, tmp_path)
    assert "serialiser: Python (the C serialiser was not built" in status

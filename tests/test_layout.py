"""The package's layout keeps the flow readable: rooms import down the flow only, no module
imports itself back through others, no module grows past 400 lines, each package says what it
holds, and the public API exports what it names."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import feedgen

PACKAGE = Path(feedgen.__file__).parent
# What each room may import of feedgen: the flow goes crm → render → publish, build above them.
BASE = {"model", "errors", "config", "tokens", "db", "undecodable", "logs", "stopping", "_speedups"}
ALLOWED = {
    "state": BASE,
    "crm": BASE | {"state"},
    "render": BASE,
    "publish": BASE | {"state"},
    "build": BASE | {"state", "crm", "render", "publish"},
    "demo": BASE | {"state", "crm"},
}
# The CRM contract's table definitions import nothing: any room may read their declarations.
DECLARATIONS = {"feedgen.crm.tables"}
LONGEST_MODULE = 400


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if "versions" in path.parts:
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def imports_at_load(name: str, path: Path) -> set[str]:
    """The feedgen modules ``name`` imports when it is loaded: module level, outside
    ``if TYPE_CHECKING`` (imports inside functions run later and cannot form a cycle at load)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "feedgen":
                continue
            for alias in node.names:  # ``from . import x`` imports a module when x is one
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in MODULES else target)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "feedgen"}
    return found - {name}


MODULES = dict(modules())
GRAPH = {name: imports_at_load(name, path) for name, path in MODULES.items()}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_module_imports_itself_back() -> None:
    cycles = []
    done: set[str] = set()

    def visit(module: str, trail: list[str]) -> None:
        if module in trail:
            cycles.append(" → ".join([*trail[trail.index(module) :], module]))
            return
        if module in done:
            return
        for target in sorted(GRAPH.get(module, ())):
            visit(target, [*trail, module])
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [])
    assert cycles == []


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_a_room_imports_only_what_lies_below_it(name: str) -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if room(module) == name
        for target in targets
        if room(target) != name and room(target) not in ALLOWED[name] and target not in DECLARATIONS
    ]
    assert wrong == []


def test_the_base_modules_import_no_room() -> None:
    wrong = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if room(module) in BASE
        for target in targets
        if room(target) not in BASE
    ]
    assert wrong == []


def test_no_module_is_longer_than_400_lines() -> None:
    lengths = {name: len(path.read_text().splitlines()) for name, path in MODULES.items()}
    assert {name: n for name, n in lengths.items() if n > LONGEST_MODULE} == {}


def test_every_package_says_what_it_holds() -> None:
    silent = [
        name
        for name, path in MODULES.items()
        if path.name == "__init__.py" and not ast.get_docstring(ast.parse(path.read_text()))
    ]
    assert silent == []


def test_the_public_api_exports_what_it_names() -> None:
    assert sorted(feedgen.__all__) == sorted(set(feedgen.__all__))
    assert [name for name in feedgen.__all__ if not hasattr(feedgen, name)] == []
    public = {name for name in vars(feedgen) if not name.startswith("_")}
    submodules = {name for name in public if name in {m.split(".")[1] for m in MODULES if "." in m}}
    assert public - submodules - {"annotations"} == set(feedgen.__all__) - {"__version__"}

"""The import graph of the application: dependencies point one way, and no module is too big.

The apps stand on floors, lowest first: ``compliance_site`` (the project's ground: settings, keys,
the audit log), ``recordings``, ``retention``, ``dsr``, ``reviews``. A module may import its own app and the
apps below it, never one above (docs: DESIGN.md, "Dependencies point one way"). The imports are
read from the source (``ast``), not by importing it, so an import tucked inside a function to
dodge a circular import at load time is seen like any other. The project's root URLconf
composes the apps by dotted path (``include("recordings.urls")``), as ``INSTALLED_APPS`` does,
and imports none of them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Lowest floor first.
APPS = ("compliance_site", "recordings", "retention", "dsr", "reviews")
# Inside recordings, the concepts stand on floors too: a lower one never imports a higher one.
RECORDINGS_FLOORS = (
    ("models",),
    ("vault",),
    ("audio", "playback", "redaction", "selectors", "sharing"),
    (
        "services",
        "restrictions",
        "reattribution",
        "renditions",
        "redaction_at_rest",
        "redaction_at_rest_beat",
    ),
    ("intake",),
    ("admin", "management", "api_urls", "urls", "apps", "tasks"),
)
MAX_LINES = 400


def _modules(root: Path, package: str) -> Iterator[tuple[str, Path]]:
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def imported_modules(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every module named by an import in ``path`` (at any depth, relative ones resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target, node.lineno
            # ``from recordings import vault`` imports recordings.vault.
            for alias in node.names:
                yield f"{target}.{alias.name}", node.lineno


def app_of(module: str, apps: Iterable[str] = APPS) -> str | None:
    head = module.split(".")[0]
    return head if head in apps else None


def upward_imports(root: Path, apps: tuple[str, ...] = APPS) -> list[str]:
    """``importer:line -> imported`` for each import of an app above the importer's app."""
    floor = {app: n for n, app in enumerate(apps)}
    found = []
    for app in apps:
        for module, path in _modules(root, app):
            for target, line in imported_modules(module, path):
                other = app_of(target, apps)
                if other is not None and floor[other] > floor[app]:
                    found.append(f"{path.relative_to(root)}:{line} -> {target}")
    return sorted(set(found))


def app_graph(root: Path, apps: tuple[str, ...] = APPS) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {app: set() for app in apps}
    for app in apps:
        for module, path in _modules(root, app):
            for target, _line in imported_modules(module, path):
                other = app_of(target, apps)
                if other is not None and other != app:
                    graph[app].add(other)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def recordings_concept(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "recordings" or len(parts) < 2 or parts[1] == "migrations":
        return None
    return parts[1]


def recordings_downward_breaks(root: Path) -> list[str]:
    floor = {name: n for n, names in enumerate(RECORDINGS_FLOORS) for name in names}
    found = []
    for module, path in _modules(root, "recordings"):
        mine = recordings_concept(module)
        if mine is None:
            continue
        for target, line in imported_modules(module, path):
            theirs = recordings_concept(target)
            if theirs is None or theirs == mine:
                continue
            if floor.get(theirs, len(RECORDINGS_FLOORS)) > floor.get(mine, len(RECORDINGS_FLOORS)):
                found.append(f"{path.relative_to(root)}:{line} -> {target}")
    return sorted(set(found))


def test_no_app_imports_an_app_above_it():
    assert upward_imports(ROOT) == []


def test_no_cycle_between_apps():
    assert cycles(app_graph(ROOT)) == []


def test_every_concept_of_recordings_is_placed_on_a_floor():
    placed = {name for names in RECORDINGS_FLOORS for name in names}
    concepts = {recordings_concept(module) for module, _path in _modules(ROOT, "recordings")}
    assert concepts - placed - {None} == set()


def test_no_concept_of_recordings_imports_one_above_it():
    assert recordings_downward_breaks(ROOT) == []


def test_no_module_of_recordings_is_over_400_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for module, path in _modules(ROOT, "recordings")
        if ".migrations" not in module and (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.mark.parametrize(
    "source",
    [
        "from dsr.api import RequestIntakeView\n",
        "def index():\n    from dsr.admin_dashboard import index_context\n",
        "import retention.explain\n",
        "from dsr import api\n",
    ],
)
def test_an_upward_import_is_found_wherever_it_hides(tmp_path, source):
    # given a tree where a module of the lowest app imports a higher one
    _write(tmp_path, {"compliance_site/__init__.py": "", "compliance_site/site.py": source})
    for app in APPS[1:]:
        _write(tmp_path, {f"{app}/__init__.py": ""})
    # then it is reported with its file and line
    found = upward_imports(tmp_path)
    assert len(found) >= 1
    assert all(item.startswith("compliance_site/site.py:") for item in found)


def test_relative_imports_resolve_within_their_package(tmp_path):
    _write(
        tmp_path,
        {
            "recordings/__init__.py": "",
            "recordings/vault/__init__.py": "",
            "recordings/vault/keys.py": "from ..playback import audio\nfrom . import storage\n",
        },
    )
    path = tmp_path / "recordings/vault/keys.py"
    targets = {target for target, _line in imported_modules("recordings.vault.keys", path)}
    assert "recordings.playback" in targets
    assert "recordings.vault.storage" in targets


def test_a_cycle_between_apps_is_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []

"""The structure docs/ARCHITECTURE.md describes, checked: import directions, no import loops,
module sizes, no hand-set import paths.

Imports are read from the source (module level and inside functions alike: a function-level
import is still a dependency), so a loop fails here before it fails at run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The project's own top-level modules and packages.
FIRST_PARTY = ("topomap_core", "callbacks", "layouts", "app", "security")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    files = [ROOT / "app.py", ROOT / "security.py"]
    for package in ("topomap_core", "callbacks", "layouts"):
        files += sorted((ROOT / package).rglob("*.py"))
    return {_module_name(path): path for path in files}


SOURCES = _sources()


def _resolve(name: str) -> str | None:
    """The first-party module ``name`` is, or is inside (``pkg.Class`` -> ``pkg``)."""
    while name:
        if name in SOURCES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> set[str]:
    path = SOURCES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            # ``from pkg import module`` depends on that module; ``from pkg import name`` on pkg.
            names = [f"{origin}.{alias.name}" for alias in node.names] + [origin]
            names = [n for n in names if n in SOURCES] or [origin]
        else:
            continue
        for name in names:
            target = _resolve(name)
            if target is not None and target != module:
                found.add(target)
    return found


GRAPH = {module: _imports(module) for module in SOURCES}


def _external(module: str) -> set[str]:
    """Top-level names of the non-project packages ``module`` imports."""
    tree = ast.parse(SOURCES[module].read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names - set(FIRST_PARTY)


def test_the_graph_sees_the_whole_project():
    assert len(SOURCES) > 50
    assert "topomap_core.jobs.base" in GRAPH["topomap_core.analyses.view"]
    assert "layouts.ids" in GRAPH["callbacks.jobs"]


def find_loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components: each of more than one module is a loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return loops


def test_there_is_no_import_loop():
    assert find_loops(GRAPH) == []


def test_a_planted_loop_would_be_found():
    # The store imports errors; errors importing the store closes a loop.
    planted = {
        **GRAPH,
        "topomap_core.errors": GRAPH["topomap_core.errors"] | {"topomap_core.store"},
    }
    (loop,) = find_loops(planted)
    assert {"topomap_core.errors", "topomap_core.store"} <= set(loop)


@pytest.mark.parametrize("module", sorted(m for m in SOURCES if m.startswith("layouts")))
def test_layouts_never_import_callbacks(module):
    assert not {m for m in GRAPH[module] if m.startswith("callbacks")}


@pytest.mark.parametrize("module", sorted(m for m in SOURCES if m.startswith("topomap_core")))
def test_the_core_is_a_library_without_web_parts(module):
    assert not {m for m in GRAPH[module] if not m.startswith("topomap_core")}
    assert not _external(module) & {"dash", "plotly", "flask"}


@pytest.mark.parametrize("module", sorted(m for m in SOURCES if m.startswith("topomap_core")))
def test_core_modules_stay_small(module):
    lines = SOURCES[module].read_text().count("\n")
    assert lines <= 600, f"{SOURCES[module]} has {lines} lines: split it along its seams"


def test_no_code_sets_the_import_path():
    files = [*SOURCES.values(), *ROOT.glob("tests/**/*.py"), *ROOT.glob("benchmarks/*.py")]
    for path in files:
        text = path.read_text()
        if path.name == Path(__file__).name:
            continue
        assert "sys.path.insert" not in text and "PYTHONPATH" not in text, path
    config = (ROOT / "pyproject.toml").read_text()
    assert "[build-system]" in config and "pythonpath" not in config


def test_the_web_process_never_imports_tensorflow(tmp_path):
    """The web process is shared by every user: models are loaded in job processes only.

    (A web process with TensorFlow's threads running is unsafe to fork and holds about 1 GB.)
    """
    import subprocess
    import sys

    code = (
        "import sys, app\n"
        "app.create_app()\n"
        "heavy = sorted(m for m in ('keras', 'tensorflow', 'torch', 'jax') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **__import__("os").environ,
            "TOPOMAPS_SPARE_WORKERS": "0",
            "TOPOMAPS_DATA_DIR": str(tmp_path),
        },
    )
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr[-3000:]


def test_the_version_has_one_source():
    """Issue 20, item 21: ``__version__`` said 0.1.0 while pyproject.toml said 0.2.0."""
    import re

    import topomap_core

    declared = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert topomap_core.__version__ == declared.group(1)
    assert '__version__ = "' not in (ROOT / "topomap_core" / "__init__.py").read_text()

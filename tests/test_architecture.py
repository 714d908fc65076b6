"""The engine's shape, checked from its source: imports go down the declared layers only,
nothing in ``gan_core`` imports the app (``ui``, Streamlit) or the CLI from below, and no
import cycle exists between subpackages or between modules.

Every import counts, wherever it sits (module top, inside a function, under ``if``) and
however it is written (absolute, relative, ``importlib.import_module("gan_core...")``), so
a lazy import cannot hide an upward edge or a cycle.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Low to high. A package may import packages of lower layers only; one layer's packages
# do not import each other. A new package must be placed here before it can ship.
LAYERS: list[tuple[str, ...]] = [
    ("torch_utils",),  # device choice, the torchvision guard, module helpers
    ("data",),  # data sets, clip sets, masks
    ("models",),  # the networks
    ("runtypes",),  # per --model: task, losses, augmentation; the registry
    ("config",),  # TrainConfig and presets (validates against the registry)
    ("runs",),  # run folders, checkpoints, metrics files
    ("inference",),  # load a generator, sample, export
    ("metrics", "video"),  # quality metrics; clips as GIFs
    ("training",),  # the loop
    ("restore",),  # repair images with trained runs
    ("jobs",),  # background processes, queue, trainer child
    ("experiments",),  # across runs: compare, sweeps (queued as jobs), the HTML report
    ("auglab",),  # does synthetic data help a classifier? (trains GANs, runs in the background)
    ("access",),  # who may do what: identities, limits (no torch), ownership-checked actions
    ("cli",),  # every argparse parser
]
FORBIDDEN_IN_ENGINE = ("streamlit", "ui", "pages", "app")


def imports_of(path: Path, package: str, module_name: str) -> set[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    here = module_name.split(".")
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base)
                target = f"{prefix}.{node.module}" if node.module else prefix
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from pkg import module`
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))
              and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.add(node.args[0].value)
    return found


def module_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module name -> the package's own modules it imports (only names that exist)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in imports_of(path, package, name):
            while imported and imported not in modules:  # `gan_core.x.y.func` -> the module `gan_core.x.y`
                imported = imported.rpartition(".")[0]
            if imported and imported != name and imported != package:
                targets.add(imported)
        graph[name] = targets
    return graph


def subpackage_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for module, targets in graph.items():
        src = subpackage_of(module)
        out.setdefault(src, set()).update(t for t in map(subpackage_of, targets) if t != src)
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def layer_violations(pkg_graph: dict[str, set[str]], layers: list[tuple[str, ...]]) -> list[str]:
    rank = {name: i for i, layer in enumerate(layers) for name in layer}
    problems = []
    for src, targets in sorted(pkg_graph.items()):
        if src in ("", "__main__"):  # gan_core/__init__ imports nothing; __main__ is the top
            if src == "" and targets:
                problems.append(f"gan_core/__init__.py imports {sorted(targets)}: keep the package root import-free")
            continue
        if src not in rank:
            problems.append(f"gan_core.{src} is in no layer of tests/test_architecture.py: place it")
            continue
        for t in sorted(targets):
            if t not in rank:
                problems.append(f"gan_core.{src} imports gan_core.{t}, which is in no layer")
            elif rank[t] >= rank[src]:
                problems.append(f"gan_core.{src} (layer {rank[src]}) imports gan_core.{t} (layer {rank[t]}): "
                                "imports must go down")
    return problems


def forbidden_imports(root: Path, package: str) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for imported in imports_of(path, package, name):
            top = imported.split(".")[0]
            if top in FORBIDDEN_IN_ENGINE:
                problems.append(f"{path.relative_to(root.parent)} imports {imported} (the engine never imports the app)")
    return problems


# ---- the checks on this tree -------------------------------------------------------------
@pytest.fixture(scope="module")
def engine():
    graph = module_graph(ROOT / "gan_core", "gan_core")
    return graph, package_graph(graph)


def test_engine_never_imports_the_app_or_streamlit():
    assert forbidden_imports(ROOT / "gan_core", "gan_core") == []


def test_imports_go_down_the_layers(engine):
    _, packages = engine
    assert layer_violations(packages, LAYERS) == []


def test_no_import_cycle_between_subpackages(engine):
    _, packages = engine
    assert find_cycle(packages) is None


def test_no_import_cycle_between_modules(engine):
    modules, _ = engine
    assert find_cycle(modules) is None


def test_every_layer_names_a_real_package():
    real = {p.name for p in (ROOT / "gan_core").iterdir() if (p / "__init__.py").exists()}
    declared = {name for layer in LAYERS for name in layer}
    assert declared == real


# ---- the checker itself can fail ---------------------------------------------------------
def test_the_checks_catch_an_upward_import_a_cycle_and_the_app(tmp_path):
    """A small tree with each fault, written the ways code hides them, is reported."""
    pkg = tmp_path / "eng"
    for sub in ("low", "high"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "high" / "top.py").write_text("from eng.low import base\n")
    # low imports high inside a function (a lazy upward import), and via importlib
    (pkg / "low" / "base.py").write_text(
        "import importlib\n\ndef later():\n    from ..high import top\n    return importlib.import_module('eng.high.top')\n")
    (pkg / "low" / "page.py").write_text("def show():\n    import streamlit as st\n    from ui import common\n")
    graph = module_graph(pkg, "eng")
    packages = package_graph(graph)
    assert packages["low"] == {"high"} and packages["high"] == {"low"}
    assert find_cycle(packages) in (["high", "low", "high"], ["low", "high", "low"])
    assert find_cycle(graph) is not None
    problems = layer_violations(packages, [("low",), ("high",)])
    assert len(problems) == 1 and "gan_core.low (layer 0) imports gan_core.high (layer 1)" in problems[0]
    bad = forbidden_imports(pkg, "eng")
    assert any("streamlit" in p for p in bad) and any("ui.common" in p for p in bad)
    assert layer_violations({"new": set()}, [("low",)]) == [
        "gan_core.new is in no layer of tests/test_architecture.py: place it"]

"""The package's layering holds: no part imports a part later in the data flow (docs/architecture.md).

corpus -> adapter -> store -> analysis -> experiment -> table -> plot -> CLI.  Each top-level part of
the package has a rank (:data:`RANKS`, the table of docs/architecture.md); a module may import modules
of its own rank or lower, never higher.  Imports are read from the source (``ast``), including those
inside functions (a lazy import is still a dependency).  Also: no module over the size limit, the
launcher does not import click, and the package ships nothing test-only.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layerprobe"

#: Rank of each top-level part (module or package) of layerprobe, in the order of the data flow.
#: Keep in step with the table in docs/architecture.md.
RANKS = {
    # foundation: errors, layer names, devices, selections, file helpers, the stores' and tables' formats
    "errors": 0, "layers": 0, "devices": 0, "selections": 0,
    "io": 1, "results": 1,
    # corpus
    "features": 2, "data": 2,
    # adapter
    "models": 3,
    # store (extraction writes stores from a model's layers)
    "extraction": 4,
    # analysis: array-level computation, attention maps, training loops, audiation
    "analysis": 5, "attention": 5, "training": 5, "audiation": 5,
    # experiment: named experiments on stores, into result tables
    "experiments": 6,
    # table / plot: figures, importers of published result files, the status report
    "plots": 7, "plot_axes": 7, "importers": 7,
    # running: the launcher (runners through submitit), the demo, the command line
    "jobs": 8, "demo": 8,
    "cli": 9, "__main__": 9,
}

#: modellib_addons (files that extend transformers modules) may import only the foundation.
ADDONS_MAX_RANK = 1

MAX_LINES = 800


def _modules(root: Path):
    for path in sorted(root.rglob("*.py")):
        yield path, ".".join(path.relative_to(root.parent).with_suffix("").parts)


def _imports(path: Path) -> set[str]:
    """Every module path ``path`` imports (absolute, relative ones resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _part(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "layerprobe" or len(parts) < 2:
        return None
    return parts[1]


def test_every_part_has_a_rank():
    parts = {_part(module) for _, module in _modules(PACKAGE)} - {None, "__init__"}
    assert sorted(parts - set(RANKS)) == [], "give new parts a rank here and in docs/architecture.md"


def test_no_part_imports_a_later_part_of_the_flow():
    problems = []
    for path, module in _modules(PACKAGE):
        own = _part(module)
        if own in (None, "__init__"):
            continue  # the flat API imports lazily by name, nothing at import time
        for imported in _imports(path):
            other = _part(imported)
            if other is None or other == "__init__" or other not in RANKS:
                continue
            if RANKS[other] > RANKS[own]:
                problems.append(f"{module} imports {imported} ({own} rank {RANKS[own]} < {other} rank {RANKS[other]})")
    assert sorted(set(problems)) == []


def test_model_library_addons_import_only_the_foundation():
    problems = []
    for path, module in _modules(ROOT / "modellib_addons"):
        for imported in _imports(path):
            other = _part(imported)
            if other in RANKS and RANKS[other] > ADDONS_MAX_RANK:
                problems.append(f"{module} imports {imported}")
    assert problems == []


def test_the_launcher_and_the_library_do_not_import_click():
    problems = []
    for path, module in _modules(PACKAGE):
        if _part(module) in ("cli", "__main__"):
            continue
        if any(name == "click" or name.startswith("click.") for name in _imports(path)):
            problems.append(module)
    assert problems == []


def test_no_module_is_over_the_size_limit():
    sizes = {module: len(path.read_text(encoding="utf-8").splitlines()) for path, module in _modules(PACKAGE)}
    assert {module: n for module, n in sizes.items() if n > MAX_LINES} == {}


def test_the_package_ships_nothing_test_only():
    problems = []
    for path, module in _modules(PACKAGE):
        for imported in _imports(path):
            if re.match(r"(hypothesis|pytest|selenium)(\.|$)", imported):
                problems.append(f"{module} imports {imported}")
    assert problems == []
    assert not (PACKAGE / "testing").exists()


def test_the_architecture_document_describes_the_layering():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for stage in ("corpus", "adapter", "store", "analysis", "experiment", "table", "plot", "CLI"):
        assert stage in text
    assert sorted(part for part in RANKS if f"`{part}`" not in text) == []
    for part, rank in RANKS.items():  # the table's row for the part gives the same rank
        row = next(line for line in text.splitlines() if line.startswith("|") and f"`{part}`" in line.split("|")[2])
        assert row.split("|")[1].strip() == str(rank), row

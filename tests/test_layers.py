"""The package's folders are its layers, and imports only go down them.

loading (``data``) → tables and statistics (``analysis``) → headless outputs (``publish``: the JSON
summary, CSV tables, the check and its webhook) → the page (``ui``) → entry points (``cli``,
``dashboard``). Read from the source, imports inside functions included, so a lazy import that
climbs a layer fails here too.
"""
from __future__ import annotations

import ast

import pytest
from helpers import ROOT

PACKAGE = ROOT / "leak_app"
LAYERS = ("data", "analysis", "publish", "ui")
ENTRY_POINTS = {"__init__", "__main__", "cli", "dashboard"}
PLOTTING = {"panel", "bokeh", "holoviews", "hvplot", "geoviews", "cartopy"}


def layer_of(module: str) -> int:
    """A module's rank: its folder's place in LAYERS; the entry points above every folder."""
    parts = module.split(".")
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else len(LAYERS)


def module_of(path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def imports(path) -> set[str]:
    """Every module a file imports (absolute names), wherever in the file the import is."""
    return imports_in(path.read_text(encoding="utf-8"), module_of(path), path.name == "__init__.py")


def imports_in(source: str, module: str, is_package: bool = False) -> set[str]:
    package = module.removesuffix(".__init__") if is_package else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            found |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_sits_in_a_layer_or_is_an_entry_point():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.stem not in ENTRY_POINTS]
    assert loose == [], "modules belong in one of the folders " + ", ".join(LAYERS)
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(LAYERS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down_the_layers_only(path):
    own = layer_of(module_of(path))
    upward = sorted(name for name in imports(path)
                    if name.startswith("leak_app.") and name.split(".")[1] in (*LAYERS, *ENTRY_POINTS)
                    and layer_of(name) > own)
    assert upward == []


@pytest.mark.parametrize("layer", LAYERS[:3])
def test_headless_layers_never_import_the_plotting_stack(layer):
    """``summary`` and ``check`` run in cron and CI: the plotting libraries cost them seconds."""
    drawn = {str(path.relative_to(PACKAGE)): sorted(PLOTTING & {name.split(".")[0] for name in imports(path)})
             for path in sorted((PACKAGE / layer).rglob("*.py"))}
    assert {name: found for name, found in drawn.items() if found} == {}


def test_the_layer_test_reads_relative_imports_as_python_does():
    """Not vacuous: an import of the page from the analysis layer is seen as one."""
    found = imports_in("from ..ui.app import Dashboard\nfrom . import leaks\n", "leak_app.analysis.model")
    assert {"leak_app.ui.app", "leak_app.analysis.leaks"} <= found
    assert layer_of("leak_app.ui.app") > layer_of("leak_app.analysis.model")

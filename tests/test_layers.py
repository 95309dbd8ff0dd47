"""Imports point one way: specs -> model -> {api, traces} -> {validation, plots, llamacpp} -> cli.

Every module's imports are read from its source, those inside functions and `if TYPE_CHECKING:`
blocks included (a lazy import is still an arrow). A module may import its own package and anything
in a lower layer; never a higher layer, nor a sibling package of its own layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "roofline"

#: (layer, package or module); the base layer holds what every layer may use.
GROUPS: list[tuple[int, str]] = [
    (0, "roofline"),  # the package itself (its __init__)
    (0, "roofline.errors"),
    (0, "roofline.units"),
    (1, "roofline.specs"),
    (2, "roofline.model"),
    (3, "roofline.api"),
    (3, "roofline.systems"),
    (3, "roofline.traces"),
    (4, "roofline.validation"),
    (4, "roofline.plots"),
    (4, "roofline.llamacpp"),
    (5, "roofline.cli"),
    (6, "roofline.__main__"),  # `python -m roofline`: the CLI
]


def _group(module: str) -> tuple[int, str]:
    found = [(lay, g) for lay, g in GROUPS if module == g or module.startswith(g + ".")]
    assert found, f"{module} belongs to no layer: add it to GROUPS"
    return max(found, key=lambda x: len(x[1]))


def _module_name(path: Path, root: Path = PACKAGE.parent) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, root: Path = PACKAGE.parent) -> list[tuple[int, str]]:
    """(line, imported module) for every import statement anywhere in the file."""
    me = _module_name(path, root)
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = me.split(".")
                is_pkg = path.name == "__init__.py"
                base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            out.append((node.lineno, name))
            # `from roofline.plots import figures` imports a module too
            out += [
                (node.lineno, f"{name}.{a.name}") for a in node.names if _is_module(f"{name}.{a.name}", root)
            ]
    return [(line, m) for line, m in out if m == "roofline" or m.startswith("roofline.")]


def _is_module(name: str, root: Path) -> bool:
    rel = root / Path(*name.split("."))
    return rel.with_suffix(".py").is_file() or (rel / "__init__.py").is_file()


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    for path in MODULES:
        _group(_module_name(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: _module_name(p))
def test_imports_point_down(path):
    me = _module_name(path)
    my_layer, my_group = _group(me)
    bad = []
    for line, target in _imports(path):
        layer, group = _group(target)
        if group == my_group or layer < my_layer or (layer == 0 and my_layer == 0):
            continue
        why = "a higher layer" if layer > my_layer else "a sibling of the same layer"
        bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target} ({why})")
    assert not bad, "\n".join(bad)


def test_the_check_sees_lazy_and_relative_imports(tmp_path):
    """The walker must not miss an import inside a function or a relative one."""
    src = tmp_path / "roofline" / "model" / "lazy.py"
    src.parent.mkdir(parents=True)
    (tmp_path / "roofline" / "api.py").write_text("")
    src.write_text(
        "from .. import api\n"
        "def f():\n"
        "    from roofline.plots import figures\n"
        "    import roofline.cli\n"
        "    return api, figures\n"
    )
    found = {m for _, m in _imports(src, tmp_path)}
    assert {"roofline", "roofline.api", "roofline.plots", "roofline.cli"} <= found

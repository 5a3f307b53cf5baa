"""The project's own source files a script runs: its import graph, walked with ast.

A Snakemake rule takes these as input, so editing any module a step really imports (and
only those) reruns that step, never a point; nobody keeps the list by hand. Imports inside
functions count too (they run when the function does). Modules outside the repository
(the standard library, installed packages, the virtualenv) are left out: their versions
are the environment's business, recorded in provenance.
"""

from __future__ import annotations

import ast
from pathlib import Path

from sshbench import paths


def _module_file(name: str, root: Path) -> Path | None:
    """The repository file of a dotted module name, or None if it is not the project's."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_inits(name: str, root: Path) -> list[Path]:
    """__init__.py of every package on the way to a module (Python runs each of them)."""
    parts = name.split(".")
    out = []
    for i in range(1, len(parts)):
        init = root.joinpath(*parts[:i], "__init__.py")
        if init.is_file():
            out.append(init)
    return out


def _imported_names(tree: ast.AST, module: str) -> set[str]:
    """Every dotted name an import statement in tree may load (a module or a package item)."""
    names: set[str] = set()
    package = module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from .x import y
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            names.add(prefix)
            names.update(f"{prefix}.{alias.name}" for alias in node.names)
    return {n for n in names if n}


def code_files(script: str | Path, root: Path = paths.ROOT) -> list[Path]:
    """The script and every repository module it imports, directly or not, sorted."""
    root = Path(root).resolve()
    script = Path(script).resolve()
    seen: dict[Path, str] = {}
    todo: list[tuple[Path, str]] = [(script, _module_name(script, root))]
    while todo:
        path, module = todo.pop()
        if path in seen:
            continue
        seen[path] = module
        tree = ast.parse(path.read_text(), filename=str(path))
        for name in _imported_names(tree, module):
            found = _module_file(name, root)
            deps = [*_package_inits(name, root), *([found] if found else [])]
            for dep in deps:
                dep_module = _module_name(dep, root)
                if dep not in seen and _inside_project(dep, root):
                    todo.append((dep, dep_module))
    return sorted(seen)


def code_inputs(script: str | Path, root: Path = paths.ROOT) -> list[str]:
    """code_files as strings (a Snakemake rule's input)."""
    return [str(p) for p in code_files(script, root)]


def _module_name(path: Path, root: Path) -> str:
    try:
        rel = path.relative_to(root).with_suffix("")
    except ValueError:
        return path.stem
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _inside_project(path: Path, root: Path) -> bool:
    """Under the repository, and not in a virtualenv or a hidden folder inside it."""
    rel = path.relative_to(root)
    return not any(part.startswith(".") for part in rel.parts)

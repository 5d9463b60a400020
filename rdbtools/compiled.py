"""Which build of the engine runs: the modules mypyc compiled, or their Python sources (issue 15).

setup.py compiles the modules pyproject.toml's ``[tool.rdbtool.mypyc]`` lists and writes
``_compiled.json`` beside this file: the modules and their sources' digests. A compiled module is found
before the source beside it; the sources run instead when ``RDBTOOL_PURE_PYTHON`` is set, or when a
source was edited after an in-place (editable) build, with a warning to rebuild. Then all of them run
as Python: compiled code calls its compiled neighbours directly, so a compiled module and the source
of another cannot be mixed.

``rdbtools/__init__.py`` calls ``select`` only when the variable is set or the manifest exists: a
Python-only install pays for one ``stat``.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

PACKAGE = Path(__file__).parent
MANIFEST = PACKAGE / "_compiled.json"


def configured_sources(root: Path) -> list[Path]:
    """The source files the mypyc build compiles, relative to the project's ``root``: the listed packages'
    and files', less those that stay Python (setup.py reads this module by its path for them)."""
    import tomllib  # the build's and the tests' question only: not paid for at import

    with open(root / "pyproject.toml", "rb") as file:
        table = tomllib.load(file)["tool"]["rdbtool"]["mypyc"]
    sources: set[Path] = set()
    for entry in map(Path, table["compile"]):
        found = (root / entry).glob("*.py") if (root / entry).is_dir() else [root / entry]
        sources.update(path.relative_to(root) for path in found)
    return sorted(sources - set(map(Path, table.get("python", []))))


def module_name(source: Path) -> str:
    """rdbtools.keyspace for rdbtools/keyspace/__init__.py, rdbtools.keyspace.engine for …/engine.py."""
    parts = source.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def select() -> None:
    """Make the sources run where they must (the variable, a stale build); else the compiled modules do."""
    if os.environ.get("RDBTOOL_PURE_PYTHON"):
        prefer_sources()
        return
    manifest = json.loads(MANIFEST.read_text())
    stale = stale_modules(manifest["modules"], PACKAGE.parent) if manifest["in_place"] else []
    if stale:
        warnings.warn(f"rdbtools: {', '.join(stale)} changed since the mypyc build: running the Python sources "
                      "(rebuild with `pip install -e .`, or remove the compiled modules)", RuntimeWarning,
                      stacklevel=3)
        prefer_sources()


def stale_modules(modules: dict[str, dict], root: Path) -> list[str]:
    """The compiled modules whose source is not what was compiled: a file's size and time that match
    the build's spare reading it; if they differ (an edit, a checkout), its digest decides."""
    stale = []
    for name, built in modules.items():
        path = root / built["path"]
        try:
            status = path.stat()
        except FileNotFoundError:
            stale.append(name)
            continue
        if (status.st_size, status.st_mtime_ns) == (built["size"], built["mtime_ns"]):
            continue
        if digest(path) != built["sha256"]:
            stale.append(name)
    return stale


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prefer_sources(package: str = __package__ or "rdbtools") -> None:
    """From now on the package's modules load from their .py sources, not the compiled modules beside them."""
    finder = SourcesFirst(package)
    if finder not in sys.meta_path:
        sys.meta_path.insert(0, finder)


class SourcesFirst:
    """A meta path finder: where the usual search finds a compiled module of the package with its
    source beside it, the source's spec instead (a package's ``__init__.py`` alike)."""

    def __init__(self, package: str) -> None:
        self.prefix = package + "."

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SourcesFirst) and other.prefix == self.prefix

    def __hash__(self) -> int:
        return hash(self.prefix)

    def find_spec(self, name: str, path: Sequence[str] | None, target: ModuleType | None = None) -> ModuleSpec | None:
        if not name.startswith(self.prefix):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or not isinstance(spec.loader, importlib.machinery.ExtensionFileLoader) or not spec.origin:
            return None
        stem = Path(spec.origin).name.split(".", 1)[0]  # engine (engine.cpython-311-….so), __init__ for a package
        source = Path(spec.origin).with_name(stem + ".py")
        if not source.exists():
            return None  # an extension with no Python twin (formats/_speedups has its own switch)
        return importlib.util.spec_from_file_location(
            name, source, submodule_search_locations=spec.submodule_search_locations)

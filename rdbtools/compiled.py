"""Which build of the engine runs: the modules mypyc compiled, or their Python sources (issue 15).

setup.py compiles the modules pyproject.toml's ``[tool.rdbtool.mypyc]`` lists and writes the manifest
``_compiled.txt`` beside this file: the modules and their sources' size, time and digest. A compiled
module is found before the source beside it; the sources run instead when ``RDBTOOL_PURE_PYTHON`` is
set, or when a source was edited after an in-place (editable) build, with a warning to rebuild. Then all
of them run as Python: compiled code calls its compiled neighbours directly, so a compiled module and
the source of another cannot be mixed.

``rdbtools/__init__.py`` calls ``select`` only when the variable is set or the manifest exists: a
Python-only install pays for one ``stat``, a compiled one for this module (it imports nothing that
Python has not loaded at its start) and a ``stat`` per compiled source (about 0.1 ms).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from pathlib import Path
    from types import ModuleType

PACKAGE = os.path.dirname(__file__)
MANIFEST = os.path.join(PACKAGE, "_compiled.txt")
#: the manifest's first line: sources in place beside the compiled modules (an editable install, which may
#: be edited after its build) or not (a wheel's, which is not checked)
IN_PLACE, INSTALLED = "in-place", "installed"


def select() -> None:
    """Make the sources run where they must (the variable, a stale build); else the compiled modules do."""
    if os.environ.get("RDBTOOL_PURE_PYTHON"):
        prefer_sources()
        return
    stale = stale_modules(MANIFEST, os.path.dirname(PACKAGE))
    if stale:
        import warnings

        warnings.warn(f"rdbtools: {', '.join(stale)} changed since the mypyc build: running the Python sources "
                      "(rebuild with `pip install -e .`, or remove the compiled modules)", RuntimeWarning,
                      stacklevel=3)
        prefer_sources()


def manifest_lines(kind: str, sources: list[str], root: str) -> list[str]:
    """The manifest setup.py writes: its kind, then a line per compiled module (tab-separated: module, source
    relative to ``root``, size, mtime_ns, sha256)."""
    lines = [kind]
    for source in sources:
        status = os.stat(os.path.join(root, source))
        fields = (module_name(source), source, status.st_size, status.st_mtime_ns, digest(os.path.join(root, source)))
        lines.append("\t".join(map(str, fields)))
    return lines


def stale_modules(manifest: str, root: str) -> list[str]:
    """The compiled modules of an in-place build whose source is not what was compiled: a file's size and
    time that match the build's spare reading it; if they differ (an edit, a checkout), its digest decides."""
    with open(manifest) as file:
        kind, *lines = file.read().splitlines()
    stale = []
    for line in lines if kind == IN_PLACE else ():
        name, source, size, mtime_ns, sha256 = line.split("\t")
        path = os.path.join(root, source)
        try:
            status = os.stat(path)
        except FileNotFoundError:
            stale.append(name)
            continue
        if (status.st_size, status.st_mtime_ns) != (int(size), int(mtime_ns)) and digest(path) != sha256:
            stale.append(name)
    return stale


def digest(path: str) -> str:
    import hashlib

    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()


def configured_sources(root: Path) -> list[str]:
    """The source files the mypyc build compiles, relative to the project's ``root``: the listed packages'
    and files', less those that stay Python (setup.py reads this module by its path for them)."""
    import tomllib  # the build's and the tests' question only: not paid for at import

    with open(root / "pyproject.toml", "rb") as file:
        table = tomllib.load(file)["tool"]["rdbtool"]["mypyc"]
    sources: set[str] = set()
    for entry in table["compile"]:
        found = (root / entry).glob("*.py") if (root / entry).is_dir() else [root / entry]
        sources.update(path.relative_to(root).as_posix() for path in found)
    return sorted(sources - set(table.get("python", [])))


def module_name(source: str) -> str:
    """rdbtools.keyspace for rdbtools/keyspace/__init__.py, rdbtools.keyspace.engine for …/engine.py."""
    parts = source.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


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
        import importlib.machinery  # here: a compiled build whose sources need not run does not load it

        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or not isinstance(spec.loader, importlib.machinery.ExtensionFileLoader) or not spec.origin:
            return None
        folder, filename = os.path.split(spec.origin)
        source = os.path.join(folder, filename.split(".", 1)[0] + ".py")  # engine.cpython-311-….so: engine.py
        if not os.path.exists(source):
            return None  # an extension with no Python twin (formats/_speedups has its own switch)
        twin = importlib.machinery.ModuleSpec(name, importlib.machinery.SourceFileLoader(name, source), origin=source)
        twin.has_location = True  # __file__ is the source
        twin.submodule_search_locations = spec.submodule_search_locations  # a package's stays one
        return twin

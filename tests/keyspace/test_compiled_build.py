"""The optional mypyc build (rdbtools/compiled.py, setup.py): which build runs, the switch to the sources,
and a stale compiled module never shadowing its edited source.

scripts/test says which build it installed (RDBTOOL_EXPECT_BUILD=compiled, or pure for the run with
RDBTOOL_PURE_PYTHON=1), so a build that quietly fell back to Python fails here; without it the test
expects what the tree holds (a manifest: compiled, unless the switch is set).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import inspect
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from rdbtools import compiled

ROOT = Path(__file__).parents[2]
MODULES = [compiled.module_name(source) for source in compiled.configured_sources(ROOT)]


def expected_build() -> str:
    expected = os.environ.get("RDBTOOL_EXPECT_BUILD")
    if expected:
        return expected
    return "pure" if os.environ.get("RDBTOOL_PURE_PYTHON") or not os.path.exists(compiled.MANIFEST) else "compiled"


def module_build(name: str) -> str:
    """compiled when the module came from an extension and none of its functions is a Python function;
    pure when it came from its source and all are."""
    module = importlib.import_module(name)
    functions = [inspect.unwrap(value) for value in vars(module).values()  # (the function a functools cache wraps)
                 if callable(value) and not isinstance(value, type) and getattr(value, "__module__", None) == name]
    if isinstance(module.__loader__, importlib.machinery.ExtensionFileLoader):
        assert not any(isinstance(function, types.FunctionType) for function in functions), name
        return "compiled"
    assert module.__file__ is not None and module.__file__.endswith(".py"), name
    assert all(isinstance(function, types.FunctionType) for function in functions), name
    return "pure"


def test_the_build_scripts_test_installed_runs():
    assert MODULES and "rdbtools.keyspace.engine" in MODULES
    assert {name: module_build(name) for name in MODULES} == dict.fromkeys(MODULES, expected_build())


def test_the_pure_python_switch_runs_every_module_from_its_source():
    probe = f"import json, importlib; print(json.dumps([importlib.import_module(n).__file__ for n in {MODULES!r}]))"
    env = dict(os.environ, RDBTOOL_PURE_PYTHON="1", PYTHONPATH=str(ROOT))
    files = json.loads(subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, check=True,
                                      text=True).stdout)
    assert [Path(file).suffix for file in files] == [".py"] * len(MODULES)


@pytest.mark.parametrize("module, name", [("rdbtools.keyspace.commands", "CommandError"),
                                          ("rdbtools.keyspace.engine", "UnknownCommand"),
                                          ("rdbtools.server.protocol", "ProtocolError"),
                                          ("rdbtools.server.core", "Shutdown")])
def test_an_error_held_by_a_weak_reference_is_freed_safely(module, name):
    """Freed, it clears the weak reference (a compiled exception class did not, and the process crashed)."""
    probe = (f"import gc, weakref\nfrom {module} import {name}\n"
             f"error = {name}('ERR x')\nref = weakref.ref(error)\ndel error\ngc.collect()\nprint(ref())")
    result = subprocess.run([sys.executable, "-c", probe], env=dict(os.environ, PYTHONPATH=str(ROOT)),
                            capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (0, "None\n")


def test_no_compiled_module_defines_an_exception_class():
    """Their exceptions are Python's (rdbtools/errors.py, keyspace/reply_types.py), never compiled ones."""
    defined = [f"{name}.{attribute}" for name in MODULES
               for attribute, value in vars(importlib.import_module(name)).items()
               if isinstance(value, type) and issubclass(value, BaseException) and value.__module__ == name]
    assert defined == []


def test_a_compiled_module_is_stale_once_its_source_changes(tmp_path):
    source = tmp_path / "rdbtools" / "engine.py"
    source.parent.mkdir()
    source.write_text("x = 1\n")
    manifest = tmp_path / "_compiled.txt"
    manifest.write_text("\n".join(compiled.manifest_lines(compiled.IN_PLACE, ["rdbtools/engine.py"], str(tmp_path))))
    assert compiled.stale_modules(str(manifest), str(tmp_path)) == []
    status = source.stat()
    os.utime(source, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))  # a checkout: new time, same text
    assert compiled.stale_modules(str(manifest), str(tmp_path)) == []
    source.write_text("x = 2\n")
    assert compiled.stale_modules(str(manifest), str(tmp_path)) == ["rdbtools.engine"]
    source.unlink()
    assert compiled.stale_modules(str(manifest), str(tmp_path)) == ["rdbtools.engine"]


def test_an_installed_build_is_not_checked_for_edits(tmp_path):
    """A wheel's files get new times when installed, and are not edited: no digest is read at import."""
    source = tmp_path / "engine.py"
    source.write_text("x = 1\n")
    manifest = tmp_path / "_compiled.txt"
    manifest.write_text("\n".join(compiled.manifest_lines(compiled.INSTALLED, ["engine.py"], str(tmp_path))))
    source.write_text("x = 2\n")
    assert compiled.stale_modules(str(manifest), str(tmp_path)) == []


@pytest.fixture
def package_with_compiled_twins(tmp_path, monkeypatch):
    """outer.inner: a subpackage whose __init__ and module have a (broken) extension beside their sources;
    importing an extension fails, so only the sources import."""
    inner = tmp_path / "outer" / "inner"
    inner.mkdir(parents=True)
    (inner.parent / "__init__.py").write_text("")
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for stem in ("__init__", "mod"):
        (inner / f"{stem}.py").write_text(f"WHERE = {stem!r}\n")
        (inner / f"{stem}{suffix}").write_bytes(b"not a shared object")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    yield
    for name in ("outer", "outer.inner", "outer.inner.mod"):
        sys.modules.pop(name, None)


def test_preferring_sources_loads_the_python_twins_of_compiled_modules(package_with_compiled_twins):
    with pytest.raises(ImportError):
        importlib.import_module("outer.inner")  # the extension is found before the source
    compiled.prefer_sources("outer")
    module = importlib.import_module("outer.inner.mod")
    assert (module.WHERE, sys.modules["outer.inner"].WHERE) == ("mod", "__init__")

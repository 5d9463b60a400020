"""The compiled parts, all optional: where they do not build, the pure-Python modules serve.

- the accelerators, each beside its Python twins: ``rdbtools/formats/_speedups.c`` (the formats' hot
  loops), ``rdbtools/server/_luacall.c`` (scripting's redis.call and runs).
- the mypyc build (issue 15): the modules ``[tool.rdbtool.mypyc]`` of pyproject.toml lists, compiled to C
  from their unchanged Python source when mypy (mypyc) is importable and ``RDBTOOL_PURE_PYTHON`` is not
  set. All of them or none: if mypyc or the C compiler fails, the build goes on without them (a
  warning says why), and no compiled module of an earlier build is left to shadow its source. The build
  writes ``rdbtools/_compiled.txt`` (rdbtools/compiled.py reads it): the modules it compiled and their
  sources' digests, which tell a stale compiled module from a current one.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import BaseError, CCompilerError, CompileError, LinkError

MANIFEST = os.path.join("rdbtools", "_compiled.txt")
#: the shared library of the compiled modules, a top-level module beside the package (mypyc finds the
#: modules' files from its place): rdbtools__mypyc.*.so
GROUP = "rdbtools"
ACCELERATORS = [Extension(name, [source], optional=True, extra_compile_args=["-O2"]) for name, source in (
    ("rdbtools.formats._speedups", "rdbtools/formats/_speedups.c"),
    ("rdbtools.server._luacall", "rdbtools/server/_luacall.c"),
)]


def load_rules() -> ModuleType:
    """rdbtools/compiled.py, which knows what compiles, read by its path (the package is not importable
    while it is being built)."""
    spec = importlib.util.spec_from_file_location("rdbtools_compiled_rules", os.path.join("rdbtools", "compiled.py"))
    assert spec is not None and spec.loader is not None
    rules = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rules)
    return rules


RULES = load_rules()


def mypyc_sources() -> list[str]:
    return RULES.configured_sources(Path("."))


@functools.cache
def mypyc_extensions() -> list[Extension]:
    """The mypyc modules' extensions (a shared library, a module each), or none where mypyc is missing,
    fails or is not wanted (made once: each command of a build asks)."""
    if os.environ.get("RDBTOOL_PURE_PYTHON"):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("mypyc not installed: the pure-Python modules only", file=sys.stderr)
        return []
    try:
        extensions = mypycify(mypyc_sources(), opt_level="3", group_name=GROUP)
    except (Exception, SystemExit) as error:  # mypyc exits on a type error
        print(f"warning: mypyc failed ({error}): the pure-Python modules only", file=sys.stderr)
        return []
    for extension in extensions:
        extension.optional = True  # not copied in place when not built (BuildExt.build_extension)
    return extensions


class BuildExt(build_ext):
    """build_ext with the mypyc modules added when mypyc is there, and built all or none."""

    def finalize_options(self) -> None:
        self.mypyc = mypyc_extensions()
        self.mypyc_failed = False
        self.distribution.ext_modules = [*ACCELERATORS, *self.mypyc]
        super().finalize_options()

    def run(self) -> None:
        if self.inplace:
            remove(self.earlier_in_place())  # a module left out since, or a build now pure, must not shadow
        super().run()
        if self.mypyc and not self.mypyc_failed:
            self.write_manifest()

    def build_extensions(self) -> None:
        super().build_extensions()
        if self.mypyc_failed:  # what was built of them goes: not copied in place, not packaged
            remove([os.path.join(self.build_lib, self.get_ext_filename(ext.name)) for ext in self.mypyc])

    def build_extension(self, ext: Extension) -> None:
        if ext not in self.mypyc:
            super().build_extension(ext)
            return
        if self.mypyc_failed:
            return
        try:
            super().build_extension(ext)
        except (CCompilerError, CompileError, LinkError, BaseError) as error:
            print(f"warning: compiling {ext.name} failed ({error}): the pure-Python modules only", file=sys.stderr)
            self.mypyc_failed = True

    def write_manifest(self) -> None:
        kind = RULES.IN_PLACE if self.inplace else RULES.INSTALLED
        target = MANIFEST if self.inplace else os.path.join(self.build_lib, MANIFEST)
        with open(target, "w") as file:
            file.write("\n".join(RULES.manifest_lines(kind, mypyc_sources(), ".")) + "\n")

    def earlier_in_place(self) -> list[str]:
        """The compiled modules an earlier in-place build left beside their sources, and its manifest."""
        if not os.path.exists(MANIFEST):
            return []
        with open(MANIFEST) as file:
            names = [line.split("\t", 1)[0] for line in file.read().splitlines()[1:]] + [GROUP + "__mypyc"]
        packages = {name: os.path.isdir(name.replace(".", os.sep)) for name in names}
        return [MANIFEST] + [
            self.get_ext_filename(name + ".__init__" if packages[name] else name) for name in names]


def remove(paths: list[str]) -> None:
    for path in paths:
        if os.path.exists(path):
            os.remove(path)


setup(
    ext_modules=ACCELERATORS,
    cmdclass={"build_ext": BuildExt},
)

"""The compiled parts: optional accelerators (the formats' hot loops; scripting's redis.call and runs);
without a C compiler the pure-Python twins serve."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("rdbtools.formats._speedups", ["rdbtools/formats/_speedups.c"], optional=True,
                  extra_compile_args=["-O2"]),
        Extension("rdbtools.server._luacall", ["rdbtools/server/_luacall.c"], optional=True,
                  extra_compile_args=["-O2"]),
    ],
)

"""The one compiled part: an optional accelerator; without a C compiler the pure-Python twins serve."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("rdbtools.formats._speedups", ["rdbtools/formats/_speedups.c"], optional=True,
                  extra_compile_args=["-O2"]),
    ],
)

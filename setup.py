"""Builds feedgen's optional C serialiser (``feedgen/_speedups.c``); the rest is in pyproject.toml.

Optional: without a C compiler (or Python's headers) the build goes on and feedgen uses its Python
serialiser, which writes the same bytes, more slowly; ``feedgen status`` says which one runs.
"""

from __future__ import annotations

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import BaseError, CCompilerError, CompileError

NOTE = """
NOTE: feedgen's C serialiser ({name}) was not built: {error}
feedgen works without it: its Python serialiser writes the same bytes, more slowly.
To build it, install a C compiler and Python's headers (Debian: gcc python3-dev) and reinstall
without pip's cache: pip install --force-reinstall --no-deps --no-cache-dir feedgen
"""


class BuildExt(build_ext):
    """Says what a failed optional extension means before setuptools' terse warning."""

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        # The errors setuptools forgives an optional extension (build_ext._filter_build_errors).
        except (CCompilerError, BaseError, CompileError) as error:
            if ext.optional:
                sys.stderr.write(NOTE.format(name=ext.name, error=error))
            raise


setup(
    cmdclass={"build_ext": BuildExt},
    ext_modules=[
        Extension(
            "feedgen._speedups",
            ["feedgen/_speedups.c"],
            optional=True,
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ],
)

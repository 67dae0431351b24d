"""Builds feedgen's optional C serialiser (``feedgen/_speedups.c``); the rest is in pyproject.toml.

Optional: without a C compiler the build goes on and feedgen uses its Python serialiser, which
writes the same bytes.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "feedgen._speedups",
            ["feedgen/_speedups.c"],
            optional=True,
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
        )
    ]
)

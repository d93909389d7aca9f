"""Build of the compiled prediction core; all other metadata lives in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "kato.core._matchcore",
            ["kato/core/_matchcore.c"],
            # No fused multiply-add: the core must round exactly like the Python definitions.
            extra_compile_args=["-O2", "-ffp-contract=off", "-std=c11", "-Wall", "-Wextra"],
        ),
        # Pattern identities; optional: kato.core.hashing falls back to the pure path.
        Extension(
            "kato.core._hashcore",
            ["kato/core/_hashcore.c"],
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra"],
            optional=True,
        ),
    ]
)

"""Build of the optional compiled cores; all other metadata lives in pyproject.toml.

The extensions are optional: a machine without a C compiler still installs (setuptools
warns and skips them) and KATO runs on the pure-Python paths with identical results.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "kato.core._matchcore",
            ["kato/core/_matchcore.c"],
            # No fused multiply-add: the core must round exactly like the Python definitions.
            extra_compile_args=["-O2", "-ffp-contract=off", "-std=c11", "-Wall", "-Wextra"],
            # Optional: without a compiler the install goes on and kato.core.matcher serves
            # with kato.core.pure_matchcore (same results, slower).
            optional=True,
        ),
        # Pattern identities; optional: kato.core.hashing falls back to the pure path.
        Extension(
            "kato.core._hashcore",
            ["kato/core/_hashcore.c"],
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra"],
            optional=True,
        ),
        # The batch learn path's symbol tally; optional: kato.core.tally falls back to the
        # pure path.
        Extension(
            "kato.core._tallycore",
            ["kato/core/_tallycore.c"],
            extra_compile_args=["-O2", "-std=c11", "-Wall", "-Wextra"],
            optional=True,
        ),
    ]
)

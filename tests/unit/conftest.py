"""The prediction core under test: property and conformance modules that ask for the
``prediction_core`` fixture run once per core, proving the pure-Python fallback gives the
compiled core's results."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kato.core import matcher, pure_matchcore


# Module scope: Hypothesis refuses function-scoped fixtures around @given tests, and one
# switch per module keeps every example of a test on one core.
@pytest.fixture(scope="module", params=["compiled", "python"])
def prediction_core(request: pytest.FixtureRequest) -> Iterator[str]:
    module = matcher.compiled if request.param == "compiled" else pure_matchcore
    if module is None:
        pytest.skip("the C extension kato.core._matchcore is not built (no compiler at install)")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(matcher, "core", module)
        yield request.param

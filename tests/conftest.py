"""Fixtures the project's tests share."""

import pytest

from crosscheck.sut import load


@pytest.fixture(scope="session")
def loaded():
    """``loaded(spec)``: a SUT loaded once for the session, in its own process, as ``--sut`` loads it."""
    suts = {}

    def get(spec):
        if spec not in suts:
            suts[spec] = load(spec)
        return suts[spec]

    yield get
    for sut in suts.values():
        sut.close()

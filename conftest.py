"""Hypothesis profiles, registered once for the whole project.

ci        deterministic, no deadline: the default when CI=true (extends Hypothesis's built-in ci)
dev       the default elsewhere: quick, still randomized
thorough  the soak: 10,000 cases per cross-check test
mutation  the test command of mutation testing: deterministic and short (30 cases per test)
drift     the nox verify sessions: deterministic, 25 cases per test, the same cases in every environment
hostile   the hostile-SUT tests (tests/test_hostile.py): deterministic, 6 cases per test
Pick one with --hypothesis-profile NAME or HYPOTHESIS_PROFILE=NAME.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", parent=settings.get_profile("ci"), max_examples=150, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=40, deadline=None, print_blob=True)
settings.register_profile(
    "thorough", max_examples=10_000, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("mutation", parent=settings.get_profile("ci"), max_examples=30)
settings.register_profile("drift", parent=settings.get_profile("ci"), max_examples=25)
settings.register_profile("hostile", parent=settings.get_profile("ci"), max_examples=6)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

"""Hypothesis profiles, registered once, by the plugin, wherever the package is installed.

crosscheck-ci   deterministic, no deadline, 310 cases per cross-check test (extends Hypothesis's ci): the ci
                gate, 1,888 cases in the wall time 928 took before a case's overhead was cut
                (docs/benchmarks.md)
crosscheck-dev  quick, still randomized: 40 cases per test
thorough        the soak: 10,000 cases per cross-check test
mutation        the test command of mutation testing: deterministic and short (30 cases per test)
drift           the nox verify sessions: deterministic, 25 cases per test, the same cases in every environment
hostile         the hostile-SUT tests (tests/test_hostile.py): deterministic, 6 cases per test
smoke           a first look at a new implementation: deterministic, 10 cases per test

The shipped cross-check tests (``crosscheck.suite``) run under the profile named by
``--hypothesis-profile`` or ``HYPOTHESIS_PROFILE`` when one is given, and otherwise under
crosscheck-ci when ``CI`` is set and crosscheck-dev elsewhere. Nothing here changes the settings
of anyone else's Hypothesis tests.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_ci = settings.get_profile("ci")  # Hypothesis's own ci profile, extended, never replaced
CI_CASES = 310
settings.register_profile("crosscheck-ci", parent=_ci, max_examples=CI_CASES, deadline=None, derandomize=True,
                          print_blob=True, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("crosscheck-dev", max_examples=40, deadline=None, print_blob=True)
settings.register_profile("thorough", max_examples=10_000, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
for _name, _n in (("mutation", 30), ("drift", 25), ("hostile", 6), ("smoke", 10)):
    settings.register_profile(_name, parent=settings.get_profile("crosscheck-ci"), max_examples=_n)

chosen: str | None = None
"""The profile the run asked for (set by the plugin at configure time), or None."""


def default_name() -> str:
    return "crosscheck-ci" if os.environ.get("CI") else "crosscheck-dev"


def suite_settings(**overrides) -> settings:
    """The settings of a shipped cross-check test: the chosen profile, else crosscheck-ci/-dev."""
    base = settings.default if chosen else settings.get_profile(default_name())
    checks = list(base.suppress_health_check) + list(overrides.pop("suppress_health_check", []))
    return settings(base, suppress_health_check=checks, **overrides)

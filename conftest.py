"""The project's own tests run under the plugin's Hypothesis profiles (crosscheck/profiles.py):

ci    the default when CI=true: crosscheck-ci (deterministic), 150 cases per test (the cross-check tests
      themselves take crosscheck-ci's 310)
dev   the default elsewhere: crosscheck-dev (quick, still randomized: 40)
and thorough, mutation, drift, hostile and smoke as the plugin registers them. Pick one with
--hypothesis-profile NAME or HYPOTHESIS_PROFILE=NAME.
"""

import os

from hypothesis import settings

import crosscheck.profiles  # noqa: F401  (registers the profiles, as the installed plugin does)

settings.register_profile("ci", parent=settings.get_profile("crosscheck-ci"), max_examples=150)
settings.register_profile("dev", parent=settings.get_profile("crosscheck-dev"))


def pytest_configure(config):
    # a profile the run names wins (Hypothesis's plugin or ours loads it); this is only the default
    if not config.getoption("hypothesis_profile", None) and not os.environ.get("HYPOTHESIS_PROFILE"):
        settings.load_profile("ci" if os.environ.get("CI") else "dev")

"""The project's own tests run under the plugin's Hypothesis profiles (crosscheck/profiles.py):

ci    the default when CI=true: crosscheck-ci (deterministic, 150 cases per cross-check test)
dev   the default elsewhere: crosscheck-dev (quick, still randomized: 40)
and thorough, mutation, drift, hostile and smoke as the plugin registers them. Pick one with
--hypothesis-profile NAME or HYPOTHESIS_PROFILE=NAME.
"""

import os

from hypothesis import settings

import crosscheck.profiles  # noqa: F401  (registers the profiles, as the installed plugin does)

settings.register_profile("ci", parent=settings.get_profile("crosscheck-ci"))
settings.register_profile("dev", parent=settings.get_profile("crosscheck-dev"))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

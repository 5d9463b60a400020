"""Hypothesis profiles. On CI (CI set, as ``bash .ci/run`` sets it) every run draws the same
examples, so a verdict is the code's, not the draw's; a failure prints the blob that replays it
(@reproduce_failure), and the sequence is then kept as an explicit @example. Locally each run draws new
examples, so running the random tests again explores further. HYPOTHESIS_PROFILE=ci or dev picks one."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

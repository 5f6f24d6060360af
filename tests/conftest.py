"""Test settings. The benchmark options (--grid, --suite, --precision, --device, --benchmark) come
from the package's pytest plugin, bench.plugin."""

import os

from hypothesis import settings

# CI runs the property tests on a fixed sequence of examples, so that a pass or a failure there
# can be reproduced; elsewhere each run explores new ones.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

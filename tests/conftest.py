from hypothesis import settings

import pytest_agenttrace.capture._router  # noqa: F401  one router for in-process pytester runs

pytest_plugins = ["pytester"]

# Shared CI machines stall now and then: time limits per example only make flakes.
settings.register_profile("agenttrace", deadline=None)
settings.load_profile("agenttrace")

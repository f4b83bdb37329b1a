import pytest_agenttrace._capture  # noqa: F401  one router for in-process pytester runs

pytest_plugins = ["pytester"]

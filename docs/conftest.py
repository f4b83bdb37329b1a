from hypothesis import settings

pytest_plugins = ["pytester"]

# Shared CI machines stall now and then: time limits per example only make flakes.
settings.register_profile("agenttrace", deadline=None)
settings.load_profile("agenttrace")

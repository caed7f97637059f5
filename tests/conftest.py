import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.stubs.fixtures"]

# Property tests run real HTTP, SQLite and triage (~150 ms an assess): few, slow examples.
# HYPOTHESIS_PROFILE=thorough runs more of them.
settings.register_profile(
    "tsunagu",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("thorough", parent=settings.get_profile("tsunagu"), max_examples=400)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "tsunagu"))

pytest_plugins = ["tests.stubs.fixtures"]

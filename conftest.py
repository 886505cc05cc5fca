"""Root conftest: the plugin tests drive inner pytest runs through ``pytester``."""

pytest_plugins = ("pytester",)

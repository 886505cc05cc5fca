"""Root conftest: the plugin tests drive inner pytest runs through ``pytester``."""

import contextlib

pytest_plugins = ("pytester",)

# OpenTelemetry before 1.42 imports the importlib_metadata backport, which deletes the
# stdlib's distribution finder and puts its own on sys.meta_path. Imported for the first time
# inside an in-process pytester run (the plugin imports OpenTelemetry lazily), that finder is
# dropped when pytester restores sys.meta_path, and every later inner run loads no plugin from
# an entry point. Imported here, once, before any inner run, it stays.
with contextlib.suppress(ImportError):
    import importlib_metadata  # noqa: F401

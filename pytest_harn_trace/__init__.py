"""pytest-harn-trace: Harn VM tracing spans in Python, with pytest assertions."""

from __future__ import annotations

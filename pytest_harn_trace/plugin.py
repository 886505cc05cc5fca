"""The pytest plugin: fixtures, marker, options and report sections."""

from __future__ import annotations

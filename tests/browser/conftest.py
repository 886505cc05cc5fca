"""A headless Chromium for the tests that look at the HTML waterfall as a user would."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chromium_cdp import Chromium


@pytest.fixture(scope="session")
def browser() -> Iterator[Chromium]:
    """One headless Chromium (Debian's ``chromium``) for the session, with a fresh profile."""
    with Chromium(width=1400, height=900) as chromium:
        yield chromium

"""File names for the pictures of a test: readable, distinct for distinct tests, and never too long.

A picture's file is ``<readable>-<hash>`` plus its suffix. ``<readable>`` is
the test's node id with each run of characters other than letters, digits,
``_``, ``.``, ``-``, ``[`` and ``]`` replaced by ``_``, cut to
:data:`READABLE_BYTES` bytes of UTF-8 (file systems count a name's bytes, at
most 255, not its characters). ``<hash>`` is the first 8 hex digits of the
SHA-1 of the whole node id, so tests whose readable parts come out the same
(``hello world`` and ``hello_world``, ``a/b`` and ``a:b``, names that differ
only in case on a case-insensitive disk, ids cut at the same place) still get
files of their own.
"""

from __future__ import annotations

import hashlib
import os
import re

__all__ = ["HASH_DIGITS", "READABLE_BYTES", "picture_stem"]

READABLE_BYTES = 120
"""At most this many bytes of UTF-8 of the node id are kept: the whole name stays well under 255."""
HASH_DIGITS = 8

_UNSAFE = re.compile(r"[^\w.\[\]-]+")


def picture_stem(test_id: str) -> str:
    """Return the file name, without suffix, of the pictures of the test ``test_id``.

    Args:
        test_id: The test's node id, such as ``tests/test_x.py::test_c[hello world]``.

    Returns:
        Such as ``tests_test_x.py_test_c[hello_world]-1f0c3a9e``.
    """
    readable = _UNSAFE.sub("_", test_id).strip("_.") or "test"
    try:
        os.fsencode(readable)
    except UnicodeEncodeError:  # a file system that only takes ASCII names
        readable = re.sub(r"[^\x21-\x7e]+", "_", readable)
    # Cut by bytes, never inside a character: a partial one at the end is dropped.
    readable = readable.encode("utf-8")[:READABLE_BYTES].decode("utf-8", "ignore")
    digest = hashlib.sha1(test_id.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{readable}-{digest[:HASH_DIGITS]}"

"""Griffe extension: the reST bits of the package's docstrings, read as Markdown.

The docstrings are written for ``help()`` and Sphinx-style roles
(``:func:`span```, ``:class:`~pytest_harn_trace.capture.TraceCapture```) and
``::`` before literal blocks. mkdocstrings reads Markdown, so this rewrites each
role as inline code of the name (the last dotted part after a ``~``, as Sphinx
shows it) and ``::`` at the end of a line as ``:``. The docstrings themselves are
left as they are.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):`(~?)([^`]+)`")


def _role(match: re.Match[str]) -> str:
    short, name = match.groups()
    return f"`{name.rsplit('.', 1)[-1] if short else name}`"


def rst_to_markdown(text: str) -> str:
    """Roles as inline code, ``::`` line ends as ``:``."""
    return re.sub(r"::$", ":", _ROLE.sub(_role, text), flags=re.MULTILINE)


class RstRoles(griffe.Extension):
    """Rewrite reST roles in every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite the docstring of each object as it is loaded."""
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)

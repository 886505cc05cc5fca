"""MkDocs hook: reference tables generated from the code that declares them.

A page asks for a table with a marker comment on a line of its own, such as
``<!-- generated: ini-options -->``; this hook replaces it while the site is
built. The plugin's fixtures, marker, options and hooks are read from a real
``pytest.Config`` with the plugin loaded (every module of the package that
pytest registers as a plugin), so an option added anywhere in the plugin shows
up without touching the docs. The OpenTelemetry mapping tables are read from
``pytest_harn_trace.otel.mapping``, by calling its mapping function.

An unknown marker fails the build, as does a generated table that comes out
empty. The tables are read once per process (``mkdocs serve`` shows a new
option after a restart).
"""

from __future__ import annotations

import importlib.util
import inspect
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

PLUGIN_PACKAGE = "pytest_harn_trace"
MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)


@contextmanager
def plugin_config() -> Iterator[pytest.Config]:
    """A configured ``pytest.Config`` as ``pytest`` would build it here, with the plugin in it."""
    from _pytest.config import _prepareconfig

    # No assertion rewriting: plugins imported before (logfire) would warn, and the
    # warning is an error under the project's filterwarnings.
    config = _prepareconfig(["-p", "no:cacheprovider", "--assert=plain"], None)
    try:
        config._do_configure()
        yield config
    finally:
        config._ensure_unconfigure()


def _load_rst_roles() -> Any:
    path = Path(__file__).with_name("rst_roles.py")
    spec = importlib.util.spec_from_file_location("harn_docs_rst_roles", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_rst_roles = _load_rst_roles()


def rst_to_markdown(text: str) -> str:
    """The reST bits of a docstring (````code````, ``:func:`name```) as Markdown."""
    return _rst_roles.rst_to_markdown(text).replace("``", "`")


def _cell(text: str) -> str:
    text = " ".join(rst_to_markdown(text).split())
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _docstring(obj: object) -> str:
    return rst_to_markdown(inspect.cleandoc(inspect.getdoc(obj) or ""))


def _plugin_modules(config: pytest.Config) -> list[Any]:
    return sorted(
        (
            plugin
            for plugin in config.pluginmanager.get_plugins()
            if getattr(plugin, "__name__", "").startswith(PLUGIN_PACKAGE + ".")
        ),
        key=lambda module: module.__name__,
    )


def fixtures(config: pytest.Config) -> str:
    """Each fixture the plugin's modules define, with its docstring (``pytest --fixtures``)."""
    from _pytest.fixtures import getfixturemarker

    parts = []
    for module in _plugin_modules(config):
        for value in vars(module).values():
            marker = getfixturemarker(value)
            if marker is None:
                continue
            name = marker.name or value.__name__
            function = getattr(value, "_get_wrapped_function", lambda v=value: v)()
            parts.append(
                f"### `{name}`\n\n"
                f"Scope: `{marker.scope}`. Defined in `{module.__name__}`.\n\n"
                f"{_docstring(function)}\n"
            )
    return "\n".join(parts)


def markers(config: pytest.Config) -> str:
    """The markers the plugin registers, as ``pytest --markers`` lists them."""
    lines = []
    for line in config.getini("markers"):
        signature, _, help_text = line.partition(":")
        if signature.startswith("harn_trace"):
            lines.append(f"`@pytest.mark.{signature.strip()}`\n:   {_cell(help_text)}\n")
    return "\n".join(lines)


def ini_options(config: pytest.Config) -> str:
    """A table of the plugin's ini options: name, type, default, help."""
    rows = ["| ini option | type | default | what it sets |", "| --- | --- | --- | --- |"]
    for name, (help_text, kind, default) in sorted(config._parser._inidict.items()):
        if name.startswith("harn_trace"):
            value = str(default).lower() if kind == "bool" else default
            shown = "" if default in ("", None) else f"`{value}`"
            rows.append(f"| `{name}` | {kind or 'string'} | {shown} | {_cell(help_text)} |")
    return "\n".join(rows)


def _cli_actions(config: pytest.Config) -> Iterator[Any]:
    parser = config._parser
    for group in [parser._anonymous, *parser._groups]:
        for option in group.options:
            if any(name.startswith("--harn-trace") for name in option.names()):
                yield option


def cli_options(config: pytest.Config) -> str:
    """A table of the plugin's command-line options: flag, value, help."""
    rows = ["| option | value | what it does |", "| --- | --- | --- |"]
    for option in _cli_actions(config):
        attrs = option.attrs()
        if attrs.get("choices"):
            value = " \\| ".join(f"`{choice}`" for choice in attrs["choices"])
        elif attrs.get("metavar"):
            value = f"`{attrs['metavar']}`"
        else:
            value = ""
        rows.append(f"| `{', '.join(option.names())}` | {value} | {_cell(attrs.get('help', ''))} |")
    return "\n".join(rows)


def hooks(config: pytest.Config) -> str:
    """The hooks the plugin declares, for a ``conftest.py`` to implement."""
    parts = []
    for name in sorted(dir(config.pluginmanager.hook)):
        if not name.startswith("pytest_harn_trace"):
            continue
        spec = getattr(config.pluginmanager.hook, name).spec
        if spec is None:
            continue
        parts.append(
            f"### `{name}({', '.join(spec.argnames)})`\n\n{_docstring(spec.function)}\n"
        )
    return "\n".join(parts)


def _otel_kind_rows() -> list[str]:
    """Probe the mapping function with each known value of the two kind attributes."""
    from pytest_harn_trace.otel import mapping

    name_keys = (
        "gen_ai.request.model",
        "gen_ai.tool.name",
        "gen_ai.agent.name",
        "gen_ai.workflow.name",
        "llm.model_name",
        "embedding.model_name",
        "tool.name",
        "agent.name",
    )
    # Every name attribute present, each holding its own key: the name that comes
    # back tells which one names the span ("<span name>" when none does).
    probe = {key: key for key in name_keys}
    operations = sorted(
        {
            *mapping._LLM_OPERATIONS,
            *mapping._AGENT_OPERATIONS,
            "execute_tool",
            "invoke_workflow",
        }
    )
    rows = []
    grouped: dict[tuple[str, str, str], list[str]] = {}
    for attribute, values in (
        ("gen_ai.operation.name", operations),
        ("openinference.span.kind", list(mapping._OPENINFERENCE)),
    ):
        for value in values:
            kind, name = mapping.map_kind_and_name("<span name>", {**probe, attribute: value})
            named_by = f"`{name}`" if name in name_keys else "the span name"
            grouped.setdefault((attribute, kind.value, named_by), []).append(f"`{value}`")
    previous = ""
    for (attribute, kind, named_by), values in grouped.items():
        shown = f"`{attribute}`" if attribute != previous else ""
        previous = attribute
        rows.append(f"| {shown} | {', '.join(values)} | `{kind}` | {named_by} |")
    kind, _ = mapping.map_kind_and_name("<span name>", {"harn.kind": "model_route"})
    rows.append("| `harn.kind` | a Harn kind, such as `model_route` | that kind | the span name |")
    assert kind.value == "model_route", "harn.kind no longer sets the kind: update this row"
    kind, _ = mapping.map_kind_and_name("<span name>", {})
    rows.append(f"| anything else | | `{kind.value}` | the span name |")
    return rows


def otel_kinds(config: pytest.Config) -> str:
    """The kind and name an OpenTelemetry span gets, rule by rule."""
    head = [
        "| attribute | value | Harn kind | named by |",
        "| --- | --- | --- | --- |",
    ]
    return "\n".join(head + _otel_kind_rows())


def otel_canonical(config: pytest.Config) -> str:
    """Harn's usage keys and the attributes they are copied from."""
    from pytest_harn_trace.otel import mapping

    rows = ["| Harn key | copied from the first present of |", "| --- | --- |"]
    for key, sources in mapping._CANONICAL:
        rows.append(f"| `{key}` | {', '.join(f'`{source}`' for source in sources)} |")
    return "\n".join(rows)


def otel_content(config: pytest.Config) -> str:
    """The content attributes left out unless ``harn_trace_otel_keep_content`` is on."""
    from pytest_harn_trace.otel import mapping

    keys = ", ".join(f"`{key}`" for key in sorted(mapping.CONTENT_KEYS))
    prefixes = ", ".join(f"`{prefix}*`" for prefix in mapping._CONTENT_PREFIXES)
    return f"- attributes: {keys};\n- and every attribute starting with: {prefixes}."


def span_kinds(config: pytest.Config) -> str:
    """Every Harn span kind, as the text form and ``span()`` accept it."""
    from pytest_harn_trace.tracing.model import SpanKind

    return ", ".join(f"`{kind.value}`" for kind in SpanKind)


GENERATORS: dict[str, Callable[[pytest.Config], str]] = {
    "fixtures": fixtures,
    "markers": markers,
    "ini-options": ini_options,
    "cli-options": cli_options,
    "hooks": hooks,
    "span-kinds": span_kinds,
    "otel-kinds": otel_kinds,
    "otel-canonical": otel_canonical,
    "otel-content": otel_content,
}


def tables() -> dict[str, str]:
    """Every generated table, from one ``pytest.Config`` (pytest can be configured once a process).

    Raises:
        ValueError: when a table comes out empty.
    """
    if not _tables:
        with plugin_config() as config:
            for name, generate in GENERATORS.items():
                table = generate(config).strip()
                if not table or (table.startswith("|") and table.count("\n") < 2):
                    raise ValueError(f"the generated table {name!r} came out empty")
                _tables[name] = table
    return _tables


_tables: dict[str, str] = {}


def render(markdown: str) -> str:
    """Replace each ``<!-- generated: NAME -->`` line of a page with its table.

    Raises:
        ValueError: for a name no generator has.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(
                f"unknown generated table {name!r}; known: {', '.join(sorted(GENERATORS))}"
            )
        return tables()[name]

    return MARKER.sub(replace, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """MkDocs event: fill in the generated tables of a page."""
    return render(markdown)

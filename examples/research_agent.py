"""A small instrumented "research agent": the code under test in this demo.

Nothing here talks to a network or a real model. The LLM client returns canned
answers and the tools return canned data, but the control flow is that of a real
agent, and every step records a span:

    pipeline research                    the whole request
      tool_mount                         tools mounted at startup
      tool_call search                   find sources
      parallel fetch_sources             fetch them concurrently (asyncio.gather)
        tool_call fetch (x3)             one of them fails: status="error"
      deferred_tool_load                 the calculator, found by tool search
      tool_call calculator
      user_timing rank_sources           a timed() block
      llm_call echo-mini                 cheap model first...
      model_route                        ...fails the quality check: escalate
      llm_call echo-large

Time only passes in plain ``asyncio.sleep`` calls, as in real agent code. The
tests run the agent on virtual time, where the event loop's clock is the mock
clock: the sleeps return at once and every duration in the trace is exact.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from pytest_harn_trace import (
    LlmCallUsage,
    SpanKind,
    emit_deferred_tool_load,
    emit_model_route,
    emit_tool_mount,
    span,
    timed,
)

MINI = "echo-mini"
LARGE = "echo-large"
FLAKY_URL = "https://flaky.example/outage"


def new_request_id() -> str:
    """Return a fresh random request id (the default request-id factory)."""
    return uuid.uuid4().hex


class ToolError(RuntimeError):
    """A tool could not do what it was asked."""


@dataclass(frozen=True)
class ModelProfile:
    """How a fake model behaves: latency, price and the canned answer it gives."""

    first_token_ms: int
    generate_ms: int
    usd_per_1k_tokens: float
    answer: str


MODELS = {
    MINI: ModelProfile(80, 120, 0.0005, "Python's GIL is a lock."),
    LARGE: ModelProfile(200, 600, 0.01, "The GIL serializes bytecode execution [1]."),
}

PAGES = {
    "https://docs.python.org/glossary": 50,  # url -> fetch latency in ms
    "https://peps.python.org/pep-0703": 30,
    FLAKY_URL: 20,
}


class FakeLLM:
    """An LLM client with canned answers that records token usage and cost."""

    async def complete(self, model: str, prompt: str) -> str:
        """Return ``model``'s canned answer to ``prompt`` inside an ``llm_call`` span.

        The span gets a ``first_token`` event and the call's ``LlmCallUsage``.
        """
        profile = MODELS[model]
        async with span(SpanKind.LLM_CALL, model) as call:
            await asyncio.sleep(profile.first_token_ms / 1000)
            call.event("first_token")
            await asyncio.sleep(profile.generate_ms / 1000)
            input_tokens = len(prompt.split())
            output_tokens = len(profile.answer.split())
            usage = LlmCallUsage(
                model=model,
                provider="canned",
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cost_usd=round(
                    (input_tokens + output_tokens) * profile.usd_per_1k_tokens / 1000, 6
                ),
            )
            for key, value in usage.metadata_pairs():
                call.set(key, value)
            return profile.answer


class Tools:
    """Fake tools: each call is a ``tool_call`` span and takes a fixed time."""

    async def search(self, query: str) -> list[str]:
        """Return the URLs of the pages that match ``query``."""
        async with span(SpanKind.TOOL_CALL, "search", query=query) as call:
            await asyncio.sleep(0.040)
            call.set("results", len(PAGES))
            return list(PAGES)

    async def fetch(self, url: str) -> str:
        """Return the text of the page at ``url``; the flaky host raises ``ToolError``."""
        async with span(SpanKind.TOOL_CALL, "fetch", url=url):
            await asyncio.sleep(PAGES[url] / 1000)
            if url == FLAKY_URL:
                raise ToolError(f"503 from {url}")
            return f"contents of {url}"

    async def calculator(self, expression: str) -> int:
        """Evaluate ``a op b`` for integers; raises ``ToolError`` on bad input."""
        async with span(SpanKind.TOOL_CALL, "calculator", expression=expression) as call:
            await asyncio.sleep(0.005)
            left, op, right = expression.split()
            if op == "/" and int(right) == 0:
                raise ToolError(f"division by zero in {expression!r}")
            ops = {"+": int.__add__, "-": int.__sub__, "*": int.__mul__, "/": int.__floordiv__}
            result = ops[op](int(left), int(right))
            call.set("result", result)
            return result


@dataclass(frozen=True)
class Answer:
    """What the agent returns."""

    text: str
    sources: list[str]
    model: str
    computed: int | None = None


def rank_sources(pages: dict[str, str]) -> list[str]:
    """Order the fetched pages, best first (shortest URL wins: it's a demo)."""
    with timed("rank_sources", candidates=len(pages)):
        return sorted(pages, key=len)


class ResearchAgent:
    """Answers a question with search, concurrent fetches, a calculator and an LLM."""

    def __init__(self, request_id: Callable[[], str] = new_request_id) -> None:
        self.llm = FakeLLM()
        self.tools = Tools()
        self._request_id = request_id

    async def answer(self, question: str, *, expression: str | None = None) -> Answer:
        """Research ``question`` and answer it, escalating to a larger model if needed.

        Args:
            question: What the user asked.
            expression: Arithmetic (``"6 * 7"``) the answer needs; loads the calculator.

        Raises:
            ToolError: when the calculator fails (a failed fetch is only skipped).
        """
        async with span(SpanKind.PIPELINE, "research", question=question) as pipeline:
            pipeline.set("request_id", self._request_id())
            emit_tool_mount(["search", "fetch"], source="builtin")
            urls = await self.tools.search(question)
            pages = await self._fetch_all(urls)
            computed = None
            if expression is not None:
                emit_deferred_tool_load("calculator", query="arithmetic", score=0.92)
                computed = await self.tools.calculator(expression)
            sources = rank_sources(pages)
            prompt = f"Answer {question!r} using {len(sources)} sources."
            model = MINI
            text = await self.llm.complete(model, prompt)
            if "[1]" not in text:  # quality check: the answer must cite a source
                emit_model_route(MINI, LARGE, reason="answer cites no source")
                model = LARGE
                text = await self.llm.complete(model, prompt)
            pipeline.set("model", model)
            return Answer(text, sources, model, computed)

    async def _fetch_all(self, urls: list[str]) -> dict[str, str]:
        """Fetch ``urls`` concurrently; pages that fail are skipped."""
        async with span(SpanKind.PARALLEL, "fetch_sources", tasks=len(urls)) as fan_out:
            results = await asyncio.gather(
                *(self.tools.fetch(url) for url in urls), return_exceptions=True
            )
            pages = {
                url: result
                for url, result in zip(urls, results, strict=True)
                if isinstance(result, str)
            }
            fan_out.set("failed", len(urls) - len(pages))
            return pages

"""Regenerate ``docs/waterfall.png``, the README's picture of the HTML waterfall.

Usage (from the repository root, with Debian's ``chromium`` installed)::

    .venv/bin/python docs/make_screenshot.py

It runs the demo agent (``examples/``) under pytest with a tree expectation
the agent fails (it expects no escalation to the large model), with
``--harn-trace-html``, then opens the page the plugin wrote in headless
Chromium, hovers the failed fetch to show its details, and saves the
screenshot. Nothing in the picture is drawn by hand.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from chromium_cdp import Chromium  # noqa: E402 - lives with the browser tests

FAILING_TEST = '''
from pytest_harn_trace import run_virtual


def test_answer_without_escalating(trace, make_agent):
    agent = make_agent(request_id=lambda: "req-42")
    run_virtual(agent.answer("What is the GIL?", expression="6 * 7"))
    trace.assert_tree("""
        pipeline research (model="echo-mini")
          tool_mount tool_mount
          tool_call search
          parallel fetch_sources
            tool_call fetch
            tool_call fetch
            tool_call fetch
          deferred_tool_load deferred_tool_load
          tool_call calculator (result=42)
          user_timing rank_sources
          llm_call echo-mini
    """)
'''

INI = """\
[pytest]
asyncio_default_fixture_loop_scope = function
"""


def main() -> None:
    """Run the failing demo test with --harn-trace-html and photograph its page."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "waterfall.png")
    target = parser.parse_args().output.resolve()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        for name in ("research_agent.py", "conftest.py"):
            shutil.copy(ROOT / "examples" / name, work / name)
        (work / "test_demo_failure.py").write_text(FAILING_TEST)
        (work / "pytest.ini").write_text(INI)
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
             "--harn-trace-html=pages", "test_demo_failure.py"],
            cwd=work, capture_output=True, text=True, check=False,
        )
        pages = sorted((work / "pages").glob("test_demo_failure.py_test_answer_*.html"))
        page = pages[0] if len(pages) == 1 else work / "pages" / "(no page)"
        if run.returncode != 1 or not page.is_file():
            sys.exit(f"expected one failing test and its page, got:\n{run.stdout}{run.stderr}")
        with Chromium(width=1280, height=660) as browser:
            browser.open(page, "window.harnTrace && window.harnTrace.ready")
            if browser.evaluate("document.getElementById('clock').className") != "clock mock":
                sys.exit("the demo trace was not timed by the mock clock; the picture would vary")
            failed_fetch = (
                "(() => { const r = document.querySelector('.row.error .label')"
                ".getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()"
            )
            x, y = browser.evaluate(failed_fetch)
            browser.hover(x, y)
            browser.screenshot(target)
    print(f"wrote {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")


if __name__ == "__main__":
    main()

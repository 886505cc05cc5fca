"""How fast the HTML waterfall opens and scrolls in a real browser, at 1k, 10k and 50k spans.

Usage::

    .venv/bin/python benchmarks/bench_waterfall.py            # full run (about a minute)
    .venv/bin/python benchmarks/bench_waterfall.py --quick    # smoke run, a few seconds

For each size, a trace (a pipeline of steps of tool calls, each with one
metadata key, the page's usual load) is written with ``trace.to_html`` and
opened in headless Chromium (Debian's ``chromium``, driven over its DevTools
pipe) ``--rounds`` times, sizes interleaved. Measured in the browser:

- ``load``: from the start of navigation until the page has drawn its first
  rows (``window.harnTrace.loadMs``: parsing the HTML and the inlined JSON,
  building the row list, drawing the rows on screen);
- ``scroll``: the page scrolled by ``--steps`` jumps of 400 px; per jump, the
  time the page's own redraw took (``lastRenderMs``) and the interval between
  animation frames while scrolling (about 16.7 ms when no frame is dropped).

Also timed in Python: writing the page (``to_html``). Medians over the rounds
are printed, with the growth ratios: the page draws only the rows on screen,
so scrolling should cost the same at any size, and loading should grow no
faster than the size of the data.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from importlib import metadata as importlib_metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "browser"))

from chromium_cdp import Chromium  # lives with the browser tests
from traces import large_trace

SCROLL = """
new Promise(done => {
  const scroller = document.getElementById("scroll");
  const renders = [], frames = [];
  let left = %d, last = null;
  function jump() {
    scroller.scrollTop += 400;
    // Two frames: the scroll event schedules the redraw for the next one.
    requestAnimationFrame(() => requestAnimationFrame(ts => {
      renders.push(window.harnTrace.lastRenderMs);
      if (last !== null) frames.push((ts - last) / 2);
      last = ts;
      if (--left > 0) jump(); else done({renders, frames});
    }));
  }
  jump();
})
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: small, one round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    sizes = [1_000, 10_000] if args.quick else [1_000, 10_000, 50_000]
    rounds = 1 if args.quick else args.rounds
    steps = 5 if args.quick else args.steps

    with tempfile.TemporaryDirectory() as folder:
        pages: dict[int, Path] = {}
        write_ms: dict[int, list[float]] = {size: [] for size in sizes}
        traces = {size: large_trace(size) for size in sizes}
        for _ in range(rounds):
            for size in sizes:
                started = time.perf_counter()
                pages[size] = traces[size].to_html(Path(folder) / f"{size}.html", title="bench")
                write_ms[size].append((time.perf_counter() - started) * 1000)
        load: dict[int, list[float]] = {size: [] for size in sizes}
        render: dict[int, list[float]] = {size: [] for size in sizes}
        frame: dict[int, list[float]] = {size: [] for size in sizes}
        with Chromium(width=1400, height=900, timeout=120) as browser:
            version = browser.send("Browser.getVersion")["product"]
            for round_number in range(rounds):
                order = sizes[round_number % len(sizes) :] + sizes[: round_number % len(sizes)]
                for size in order:
                    browser.open(pages[size], "window.harnTrace && window.harnTrace.ready")
                    load[size].append(browser.evaluate("window.harnTrace.loadMs"))
                    scrolled = browser.evaluate(SCROLL % steps)
                    render[size] += scrolled["renders"]
                    frame[size] += scrolled["frames"]
        kilobytes = {size: pages[size].stat().st_size / 1024 for size in sizes}

    print(
        f"Python {platform.python_version()} on {platform.machine()} {platform.system()}; "
        f"{version} (headless); pytest-harn-trace {importlib_metadata.version('pytest-harn-trace')}"
    )
    print(
        f"{rounds} interleaved round(s) per size; scroll: {steps} jumps of 400 px per round; "
        "medians (max)"
    )
    print(f"  {'spans':>8}  {'page KB':>8}  {'to_html ms':>11}  {'load ms':>14}  "
          f"{'redraw ms/jump':>15}  {'frame ms':>14}")
    med = statistics.median
    for size in sizes:
        kb = kilobytes[size]
        print(
            f"  {size:>8,}  {kb:>8,.0f}  {med(write_ms[size]):>11.1f}  "
            f"{med(load[size]):>7.1f} ({max(load[size]):>5.0f})  "
            f"{med(render[size]):>7.2f} ({max(render[size]):>5.1f})  "
            f"{med(frame[size]):>7.1f} ({max(frame[size]):>5.1f})"
        )
    small, large = sizes[0], sizes[1]
    print(
        f"  {large // small}x spans: load {med(load[large]) / med(load[small]):.1f}x, "
        f"redraw per jump {med(render[large]) / max(med(render[small]), 1e-9):.1f}x"
    )


if __name__ == "__main__":
    main()

"""The HTML report in a real browser: Debian's chromium, driven by playwright's Python package.

The test setup (.ci/run) installs both; outside CI the tests skip with the reason when either is
missing, under CI (CI=true) they fail instead, so a broken install cannot pass unnoticed.

Run as a script, this file also produces the figures in docs/report.md and the screenshots in
docs/img/:

    python tests/e2e/test_report_browser.py --measure 5000
    python tests/e2e/test_report_browser.py --screenshots docs/img
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from plagiarism.model import (
    FileInfo,
    LineRange,
    Pair,
    Region,
    Rename,
    Result,
    UnitRef,
    Warning,
)
from plagiarism.report import json_format
from plagiarism.report.html import write_html

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "corpora" / "vlm"
CHROMIUM = Path("/usr/bin/chromium")
# No GPU, no sandbox (CI runs as root), and nothing that phones home: the report must open offline.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _missing() -> list[str]:
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright Python package (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    return missing


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing:
        reason = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; .ci/run installs them, so under CI this is a failure")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield chromium
        chromium.close()


class Watched:
    """A page whose console errors, uncaught exceptions, dialogs and requests are recorded."""

    def __init__(self, browser: Any, width: int = 1280, height: int = 900) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": height})
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

        def dialog(d: Any) -> None:
            self.dialogs.append(d.message)
            d.dismiss()

        self.page.on("dialog", dialog)

    def open(self, path: Path, fragment: str = "") -> None:
        self.page.goto(path.resolve().as_uri() + fragment)
        self.page.wait_for_load_state("load")

    def target(self) -> dict[str, Any]:
        """Which element the URL targets, and whether its top is in the viewport."""
        result: dict[str, Any] = self.page.evaluate(
            """() => {
                const el = document.querySelector(':target');
                if (!el) return {id: null};
                const box = el.getBoundingClientRect();
                return {id: el.id, top: box.top, height: window.innerHeight,
                        file: location.pathname.split('/').pop(), hash: location.hash};
            }"""
        )
        return result

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors
        assert self.dialogs == [], self.dialogs
        foreign = [u for u in self.requests if not u.startswith(("file:", "data:"))]
        assert foreign == [], foreign


def _in_view(target: dict[str, Any]) -> bool:
    return bool(0 <= target["top"] < target["height"])


@pytest.fixture(scope="module")
def vlm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The shipped example through the CLI: its HTML report and its JSON result."""
    from click.testing import CliRunner

    from plagiarism.cli import main

    out = tmp_path_factory.mktemp("vlm")
    html, js = out / "report.html", out / "result.json"
    run = CliRunner().invoke(
        main,
        [
            "compare",
            str(CORPUS / "original"),
            str(CORPUS / "disguised"),
            "--html",
            str(html),
            "--json",
            str(js),
            "--quiet",
            "--jobs",
            "1",
        ],
    )
    assert run.exit_code == 1, run.output  # the disguised copy is a finding
    assert html.exists() and js.exists()
    return html, js


def test_report_opens_without_errors_and_a_link_from_the_overview_reaches_its_pair(
    browser: Any, vlm: tuple[Path, Path], tmp_path: Path
) -> None:
    html, _ = vlm
    w = Watched(browser)
    w.open(html)
    first = w.page.locator("#pairs tbody tr").first.locator("a")
    href = first.get_attribute("href")
    assert href and href.startswith("#pair-")
    first.click()
    w.page.wait_for_function(f"location.hash === {href!r}")
    target = w.target()
    assert target["id"] == href[1:]
    assert _in_view(target), target
    assert w.page.locator(f"{href} .c[data-r]").count() > 0  # the pair shows matched lines
    shot = tmp_path / "report.png"
    w.page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    w.assert_clean()


def test_the_overview_works_with_the_keyboard(browser: Any, vlm: tuple[Path, Path]) -> None:
    html, _ = vlm
    w = Watched(browser)
    w.open(html)
    w.page.keyboard.press("Tab")
    assert w.page.evaluate("document.activeElement.textContent") == "Skip to content"
    # Tab on through the section links to the first pair link, then follow it with Enter.
    wanted = w.page.locator("#pairs tbody tr a").first.get_attribute("href")
    for _ in range(40):
        w.page.keyboard.press("Tab")
        if w.page.evaluate("document.activeElement.getAttribute('href')") == wanted:
            break
    else:
        pytest.fail(f"the link {wanted} cannot be reached with Tab")
    outline = w.page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")  # a visible focus ring
    w.page.keyboard.press("Enter")
    w.page.wait_for_function(f"location.hash === {wanted!r}")
    assert w.target()["id"] == wanted[1:]
    w.assert_clean()


def test_pairs_beyond_the_first_page_are_one_click_away(
    browser: Any, vlm: tuple[Path, Path], tmp_path: Path
) -> None:
    _, js = vlm
    result = json_format.read(js)
    assert len(result.pairs) > 25, "the example should have enough pairs for three pages"
    written = write_html(result, tmp_path / "report.html", inline_pairs=12)
    assert len(written) >= 3
    w = Watched(browser)
    w.open(written[0])
    # Pairs on further pages are listed in a folded table; a reader opens it first.
    w.page.locator("#more-pairs > summary").click()
    link = w.page.locator("#pairs tbody tr").nth(14).locator("a")
    href = link.get_attribute("href")
    assert href and href.startswith("report-pairs-2.html#pair-")
    link.click()
    w.page.wait_for_url(f"**/{href}")
    target = w.target()
    assert target["file"] == "report-pairs-2.html" and target["id"] == href.split("#")[1]
    assert _in_view(target), target
    w.page.locator("nav.toc a", has_text="Overview").click()
    w.page.wait_for_url("**/report.html#overview")
    w.assert_clean()


def _hostile_result() -> Result:
    code = (
        "def leak(x):\n"
        "    s = '</script><script>alert(1)</script>'\n"
        "    t = '<img src=x onerror=alert(2)>'\n"
        "    return s + t + str(x)\n"
    )
    code_b = code.replace("(x)", "(y)")  # B renamed x: its file differs, both are drawn
    sha = hashlib.sha256(code.encode()).hexdigest()
    sha_b = hashlib.sha256(code_b.encode()).hexdigest()
    evil = "<img src=x onerror=alert(3)>"
    name = "leak</script><script>alert(4)</script>"
    ref = UnitRef(f"{evil}.py", name, "function", 1, 4, 30, sha)
    ref_b = UnitRef(f"{evil}.py", name, "function", 1, 4, 30, sha_b)
    pair = Pair(
        ref, ref_b, 1.0, 30, (Region(LineRange(1, 4), LineRange(1, 4), 30),), (Rename("x", "y", 2),)
    )
    base = json_format.from_dict(
        {
            "schema": 1,
            "tool": {"version": "0.0.0"},
            "settings": {"note": evil},
            "sources": {
                "a": {"spec": evil, "kind": "folder", "root": "/a"},
                "b": {"spec": "<script>alert(5)</script>", "kind": "folder", "root": "/b"},
            },
            "summary": {
                "similarity": 1.0,
                "verdict": "copied",
                "files_a": 1,
                "files_b": 1,
                "units_a": 1,
                "units_b": 1,
                "tokens_b": 30,
                "matched_tokens_b": 30,
                "pairs": 1,
                "candidates": 1,
            },
            "pairs": [],
            "file_pairs": [],
            "renames": [{"a": evil, "b": "ok", "count": 3}],
            "files": {"a": [], "b": []},
            "warnings": [],
        }
    )
    return replace(
        base,
        pairs=(pair,),
        files_a=(FileInfo(ref.path, sha, 4, "python", 1),),
        files_b=(FileInfo(ref.path, sha_b, 4, "python", 1),),
        warnings=(Warning("a", evil, "<script>alert(6)</script>", skipped=True),),
        blobs={sha: code, sha_b: code_b},
        artifacts={"weights": {"verdict": "<script>alert(7)</script>"}},
    )


def test_hostile_content_runs_nothing_in_the_browser_and_our_script_still_runs(
    browser: Any, tmp_path: Path
) -> None:
    html = tmp_path / "hostile.html"
    write_html(_hostile_result(), html)
    w = Watched(browser)
    w.open(html, "#pair-1")
    assert w.page.evaluate("document.images.length") == 0
    assert w.page.evaluate("document.scripts.length") == 1
    shown = w.page.locator("#pair-1 .sbs").inner_text()
    assert "s = '</script><script>alert(1)</script>'" in shown
    # The page's own script is allowed by the Content-Security-Policy: pointing at a matched line
    # outlines the same region on the other side.
    w.page.locator("#pair-1 .c[data-r]").first.hover()
    assert w.page.locator("#pair-1 .c.hot").count() >= 2
    w.assert_clean()


def test_printing_opens_the_folded_parts_and_hides_the_navigation(
    browser: Any, vlm: tuple[Path, Path]
) -> None:
    html, _ = vlm
    w = Watched(browser)
    w.open(html)
    closed = w.page.evaluate("document.querySelectorAll('details:not([open])').length")
    assert closed > 0
    w.page.emulate_media(media="print")
    w.page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert w.page.evaluate("document.querySelectorAll('details:not([open])').length") == 0
    assert w.page.evaluate("getComputedStyle(document.querySelector('nav.toc')).display") == "none"
    w.page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert w.page.evaluate("document.querySelectorAll('details:not([open])').length") == closed
    w.assert_clean()


# --- figures and screenshots for the docs (not run by pytest) ---------------------------------


def synthetic(pairs: int, files: int = 40, per_file: int = 150) -> Result:
    """A comparison of two large repositories: `pairs` renamed copies of 7-line functions."""

    def body(i: int, prefix: str) -> str:
        return (
            f"def {prefix}_{i}(x, {prefix}_arg):\n    total = 0\n    for item in range(x):\n"
            f"        total += item * {prefix}_arg  # step {i}\n    if total > {i}:\n"
            f"        return total - {i}\n    return total\n\n"
        )

    texts = {
        side: ["".join(body(f * per_file + i, side) for i in range(per_file)) for f in range(files)]
        for side in ("orig", "copy")
    }
    shas = {
        side: [hashlib.sha256(t.encode()).hexdigest() for t in ts] for side, ts in texts.items()
    }
    out = []
    for n in range(pairs):
        f, i = divmod(n % (files * per_file), per_file)
        s, k = 1 + 8 * i, f * per_file + i
        a = UnitRef(f"a/m{f}.py", f"orig_{k}", "function", s, s + 6, 40, shas["orig"][f])
        b = UnitRef(f"b/m{f}.py", f"copy_{k}", "function", s, s + 6, 40, shas["copy"][f])
        regions = (
            Region(LineRange(s, s + 3), LineRange(s, s + 3), 22),
            Region(LineRange(s + 4, s + 6), LineRange(s + 4, s + 6), 18),
        )
        renames = (Rename(f"orig_{k}", f"copy_{k}", 1), Rename("orig_arg", "copy_arg", 2))
        out.append(Pair(a, b, 1.0 - (n % 997) / 2000, 40 - n % 7, regions, renames))
    base = _hostile_result()
    return replace(
        base,
        pairs=tuple(out),
        summary=replace(base.summary, pairs=pairs),
        renames=(Rename("orig_arg", "copy_arg", pairs),),
        files_a=tuple(
            FileInfo(f"a/m{f}.py", shas["orig"][f], 1200, "python", per_file) for f in range(files)
        ),
        files_b=tuple(
            FileInfo(f"b/m{f}.py", shas["copy"][f], 1200, "python", per_file) for f in range(files)
        ),
        blobs={sh: t for side in texts for sh, t in zip(shas[side], texts[side], strict=True)},
        warnings=(),
        artifacts=None,
    )


def _launch() -> tuple[Any, Any]:
    missing = _missing()
    if missing:
        sys.exit("needs " + " and ".join(missing))
    from playwright.sync_api import sync_playwright

    p = sync_playwright().start()
    return p, p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)


def measure(pairs: int) -> None:
    result = synthetic(pairs)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        written = write_html(result, Path(tmp) / "report.html")
        elapsed = time.perf_counter() - start
        sizes = {p.name: p.stat().st_size for p in written}
        largest = max(written, key=lambda p: p.stat().st_size)
        print(f"{pairs} pairs: {len(written)} pages written in {elapsed:.1f} s")
        print(
            f"overview {sizes['report.html'] / 1e6:.2f} MB, largest {largest.name} "
            f"{sizes[largest.name] / 1e6:.2f} MB, all pages {sum(sizes.values()) / 1e6:.1f} MB"
        )
        p, chromium = _launch()
        try:
            for page_file in dict.fromkeys([written[0], largest, written[-1]]):
                times = []
                for _ in range(3):
                    w = Watched(chromium)
                    t0 = time.perf_counter()
                    w.open(page_file)
                    wall = time.perf_counter() - t0
                    nav = w.page.evaluate(
                        "JSON.stringify(performance.getEntriesByType('navigation')[0])"
                    )
                    import json

                    entry = json.loads(nav)
                    times.append((wall, entry["domContentLoadedEventEnd"], entry["loadEventEnd"]))
                    w.assert_clean()
                    w.page.close()
                best = min(times)
                print(
                    f"open {page_file.name}: wall {best[0] * 1000:.0f} ms, DOMContentLoaded "
                    f"{best[1]:.0f} ms, load {best[2]:.0f} ms (best of 3)"
                )
        finally:
            chromium.close()
            p.stop()


def _most_regions(result: Result) -> int:
    """Id of the pair with the most matched regions among those that fit on one screen."""
    fits = [
        (len(p.regions), i)
        for i, p in enumerate(result.pairs, start=1)
        if max(p.a.end_line - p.a.start_line, p.b.end_line - p.b.start_line) <= 24
    ]
    return max(fits)[1] if fits else 1


def screenshots(folder: Path) -> None:
    from plagiarism import Settings, compare

    folder.mkdir(parents=True, exist_ok=True)
    os.chdir(REPO)  # the page shows the sources as typed: keep them short
    result = compare(
        "corpora/vlm/original", "corpora/vlm/disguised", Settings().with_overrides(jobs=1)
    )
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "report.html"
        write_html(result, html)
        p, chromium = _launch()
        try:
            w = Watched(chromium, width=1280, height=1000)
            w.open(html)
            w.page.screenshot(path=str(folder / "report-overview.png"))
            # A pair with several regions shows how the tints pair up across the two sides.
            w.open(html, f"#pair-{_most_regions(result)}")
            w.page.screenshot(path=str(folder / "report.png"))
            w.assert_clean()
        finally:
            chromium.close()
            p.stop()
    print(f"wrote {folder / 'report.png'} and {folder / 'report-overview.png'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--measure", type=int, metavar="PAIRS")
    parser.add_argument("--screenshots", type=Path, metavar="FOLDER")
    args = parser.parse_args()
    if args.measure:
        measure(args.measure)
    if args.screenshots:
        screenshots(args.screenshots)

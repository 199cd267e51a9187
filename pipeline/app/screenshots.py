"""Every page of the studio in headless Chromium (playwright): screenshots at 1440×900, so a
reviewer can look without running it, and the time each page takes to render on a fresh server.
A page has rendered when its title is drawn and its script has finished ("Running…" gone).
``make screenshots`` writes the screenshots of the demo store.

    python -m pipeline.app.screenshots demo.db screenshots/
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from pipeline.app.serving import app_server

PAGES = {"overview": "", "domains": "Domains", "trade-offs": "Trade-offs", "agreement": "Agreement",
         "review": "Review", "export": "Export", "runs": "Runs"}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def rendered(page, timeout_ms: int = 120_000) -> None:
    """Wait until the page's title is drawn and its script has finished."""
    page.locator("[data-testid=stMain] h1").first.wait_for(timeout=timeout_ms)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=timeout_ms)


def first_render_seconds(db: Path, width: int = 1440, height: int = 900) -> dict[str, float]:
    """Per page, on a server just started on ``db`` (nothing cached): seconds from navigation to rendered."""
    from playwright.sync_api import sync_playwright

    seconds = {}
    with app_server(db) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        for name, path in PAGES.items():
            page = browser.new_page(viewport={"width": width, "height": height})  # a new session each time
            began = time.perf_counter()
            page.goto(f"{url}/{path}")
            rendered(page)
            seconds[name] = time.perf_counter() - began
            page.close()
        browser.close()
    return seconds


def screenshots(db: Path, out: Path, width: int = 1440, height: int = 900) -> list[Path]:
    """A full-page PNG per page of the studio on ``db``, in ``out``; returns the files."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    with app_server(db) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        for name, path in PAGES.items():
            page.goto(f"{url}/{path}")
            rendered(page)
            page.wait_for_timeout(3000)  # charts and tables draw after the script ends
            # the app scrolls inside its main block: grow the window to the page's length
            length = page.evaluate("() => document.querySelector('[data-testid=stMain]')?.scrollHeight || 0")
            page.set_viewport_size({"width": width, "height": max(height, int(length))})
            page.wait_for_timeout(1000)
            written.append(out / f"{name}.png")
            page.screenshot(path=str(written[-1]), full_page=True)
            page.set_viewport_size({"width": width, "height": height})
        browser.close()
    return written


def main() -> None:
    """Write the screenshots of the store given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    for path in screenshots(args.db, args.out):
        print(path)


if __name__ == "__main__":
    main()

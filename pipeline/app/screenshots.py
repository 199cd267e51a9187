"""Screenshots of every page of the studio at 1440×900, so a reviewer can look without running it:
``misalign app`` on a store, each page opened in headless Chromium (playwright) once its script has
finished ("Running…" gone), written as PNG files. ``make screenshots`` does it on the demo store.

    python -m pipeline.app.screenshots demo.db screenshots/
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from pipeline.app.serving import app_server

PAGES = {"overview": "", "domains": "Domains", "trade-offs": "Trade-offs", "agreement": "Agreement",
         "review": "Review", "export": "Export", "runs": "Runs"}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


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
            page.locator("[data-testid=stApp]").wait_for()
            page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')",
                                   timeout=60_000)
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

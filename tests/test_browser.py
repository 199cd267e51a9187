"""The studio in a real browser: `misalign app` on 127.0.0.1, driven by headless Chromium."""

import json
import re
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from pipeline.engines.config import load_config
from pipeline.stages.ingest import IngestOptions, ingest
from pipeline.stages.pairs.run import PairOptions
from pipeline.stages.pairs.importer import import_candidates
from pipeline.stages.pairs.options import PairImportOptions
from pipeline.review.queues import add_annotator, add_panel, QueueOptions, build_queues
from review_store import Store
from taxonomy import load_taxonomy
from tests.conftest import running_app
from tests.pair_fixtures import seed_pairs

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
ADVERSARIAL = "<script>alert(1)</script> **bold claim** [click](javascript:alert(2)) may I touch the museum relics?"


def as_shown(text: str) -> re.Pattern:
    """``text`` as a page shows data text in Markdown places (``markdown_literal``): exactly, with an invisible
    word joiner where a colon, ``@`` or ``www`` would have begun a directive or a bare link."""
    return re.compile("".join(re.escape(c) + "\u2060?" for c in text))


@pytest.fixture
def served(store, taxonomy, tmp_path, db_path):
    seed_pairs(store, taxonomy, tmp_path)
    (tmp_path / "x.csv").write_text(f'prompt,culture\n"{ADVERSARIAL}",Museums\n', encoding="utf-8")
    ingest(store, taxonomy, options=IngestOptions(tmp_path / "x.csv", label_columns={"culture": "culture"}))
    (tmp_path / "x.jsonl").write_text("".join(json.dumps({"prompt": ADVERSARIAL, "slot": slot, "text": text,
                                                          "generator": "g"}) + "\n" for slot, text in (
        ("aligned", "<img src=x onerror=alert(3)> Please do not touch them; ask a guide instead."),
        ("misaligned", "# Go ahead\nNobody checks, so handle whatever you like."))), encoding="utf-8")
    import_candidates(store, taxonomy, load_config(), PairImportOptions(tmp_path / "x.jsonl", pairs=PairOptions(threshold=0.5, margin=0.5, labeler="imported:x.csv")))
    add_panel(store, "South Asia", min_submissions=1)
    add_annotator(store, "asha", ("South Asia",), culture="IN")
    build_queues(store, options=QueueOptions("South Asia", queues=("borderline",)))
    with running_app(db_path, cwd=tmp_path) as url:
        yield url


@contextmanager
def app_page(db_path, cwd):
    """(url, page): ``misalign app`` on the store and a headless Chromium page, both stopped after."""
    from playwright.sync_api import sync_playwright

    with running_app(db_path, cwd=cwd) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            yield url, browser.new_page()
        finally:
            browser.close()


def choose(page, box: int, option: str) -> None:
    # a box clicked while the page's script still runs is drawn anew, its list closed: wait for the run to end
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=60_000)
    page.locator("div[data-testid=stSelectbox]").nth(box).click()
    page.get_by_role("option", name=option, exact=True).click()
    page.wait_for_timeout(800)


def test_browse_a_domain_review_and_export_in_chromium(served, store, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{served}/Domains")
            page.get_by_text("Labeler").first.wait_for()
            choose(page, 0, "imported:x.csv")
            choose(page, 1, "Culture")
            choose(page, 2, "Museums")
            page.locator("div[data-testid=stExpander] summary").filter(has_text=" — ").first.click()  # the example
            page.get_by_text(ADVERSARIAL, exact=True).filter(visible=True).first.wait_for()  # the prompt, literally
            page.get_by_text("<img src=x onerror=alert(3)>", exact=False).first.wait_for()
            assert page.locator("script", has_text="alert(1)").count() == 0
            assert page.locator("img[src=x]").count() == 0 and page.locator("a[href^=javascript]").count() == 0

            page.goto(f"{served}/Review")
            page.get_by_text("I am").first.wait_for()
            choose(page, 1, "asha")
            page.get_by_text("Is this a valid pair?").wait_for()
            page.locator("div[role=radiogroup]").nth(0).get_by_text("yes", exact=True).click()
            page.locator("div[role=radiogroup]").nth(1).get_by_text("no", exact=True).click()
            page.locator("div[data-testid=stMultiSelect]").click()
            page.get_by_role("option", name="Culture", exact=True).click()  # in words; stored as its id
            page.keyboard.press("Escape")
            page.get_by_role("button", name="Submit").click()
            for _ in range(60):  # the app moves to asha's next item; the answer lands in the store
                if store.annotations("South Asia"):
                    break
                page.wait_for_timeout(500)

            page.goto(f"{served}/Export")
            page.get_by_role("textbox", name="Folder").wait_for()
            page.get_by_role("textbox", name="Folder").fill(str(tmp_path / "exported"))
            page.get_by_role("textbox", name="Licence").fill("unknown")
            choose(page, 0, "all")  # these pairs are borderline: not in the default curated set
            page.get_by_role("button", name="Write").click()
            page.get_by_text("Download pairs.jsonl").wait_for(timeout=30_000)
        finally:
            browser.close()
    [answer] = store.annotations("South Asia")
    assert (answer["annotator"], answer["pair_valid"], answer["aligned_acceptable"]) == ("asha", "yes", "no")
    assert answer["misaligned_dimensions"] == ["culture"]
    assert (tmp_path / "exported" / "pairs.jsonl").is_file() and (tmp_path / "exported" / "README.md").is_file()


def test_the_demo_store_in_chromium(demo_run, taxonomy, tmp_path):
    """`make demo`'s store, as a user meets it: the overview, a domain's pairs, the example panels'
    agreement, a review by an example annotator, and an export."""
    from playwright.sync_api import sync_playwright

    db = tmp_path / "demo.db"
    shutil.copy(demo_run[0], db)
    with Store(db) as store:
        labeler = "imported:demo"
        domain = next(d for d in taxonomy.domains if store.domain_summary(labeler, d.id)["pairs"])
    with running_app(db, cwd=tmp_path) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(url)
            page.get_by_text("Funnel: from prompts to human-validated pairs").wait_for()
            page.get_by_text("example answers shipped with the demo", exact=False).wait_for()

            page.goto(f"{url}/Domains")
            page.get_by_text("Labeler").first.wait_for()
            choose(page, 0, labeler)
            choose(page, 1, taxonomy.dimension_names[domain.dimension])
            choose(page, 2, domain.name)
            page.locator("div[data-testid=stExpander] summary").filter(has_text=" — ").first.click()
            page.get_by_text("Pipeline: ", exact=False).locator("visible=true").first.wait_for()  # the pair card
            page.get_by_text(f"{taxonomy.dimension_names[domain.dimension]}: {domain.name}", exact=False).first.wait_for()
            page.wait_for_function(f"() => location.search.includes('domain={domain.id}')")  # the view, linked
            linked = page.url
            page.goto(url)
            page.goto(linked)  # a shared link reopens the same domain
            page.get_by_text("Labeler").first.wait_for()
            page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')")
            assert page.locator("div[data-testid=stSelectbox] input").nth(2).input_value() == domain.name

            page.goto(f"{url}/Agreement")
            page.get_by_text("Divergence between panels").wait_for()
            page.get_by_text("example-western-europe").first.wait_for()

            page.goto(f"{url}/Review")
            page.get_by_text("I am").first.wait_for()
            choose(page, 1, "example-amani")
            page.get_by_text("(example annotator)", exact=False).wait_for()

            page.goto(f"{url}/Export")
            page.get_by_role("textbox", name="Folder").fill(str(tmp_path / "exported"))
            page.get_by_role("textbox", name="Licence").fill("unknown")
            page.get_by_role("button", name="Write").click()
            page.get_by_text("Download pairs.jsonl").wait_for(timeout=30_000)
        finally:
            browser.close()
    assert (tmp_path / "exported" / "README.md").is_file()


def test_explore_a_domain_from_the_heatmap_in_chromium(demo_run, taxonomy, tmp_path):
    """Trade-offs heatmap → a domain's explorer → a cell of its own trade-off matrix → the pairs behind
    it, each saying what the model flagged on which response; the link reopens the same view."""
    from playwright.sync_api import sync_playwright

    db = tmp_path / "demo.db"
    shutil.copy(demo_run[0], db)
    with Store(db) as store:
        group = next(g for g in store.bench_groups() if g["engine"] == "embedded")
        # a domain whose own matrix has pairs behind a cell
        domain, cell, behind = next((s["key"], c, b) for s in store.bench_summaries(group["group_id"], "tradeoff")
                                    if s["key"] != "all" for c, b in s["metrics"]["behind"].items() if b["total"])
    domain, (right, wrong) = taxonomy.domain(domain), [taxonomy.dimension_names[d] for d in cell.split(">")]
    with running_app(db, cwd=tmp_path) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(f"{url}/Trade-offs")
            page.get_by_role("tab", name="Alignment Score per domain and run").click()
            heatmap = page.locator(f'[data-testid=stVegaLiteChart] path[aria-label*="domain: {domain.name};"]'
                                   '[aria-label*="run: embedded ·"]')
            heatmap.wait_for()
            page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=60_000)
            heatmap.click()
            page.wait_for_url(f"**/Domains?*domain={domain.id}*", timeout=30_000)
            page.get_by_text("Trade-offs in this domain").wait_for()
            matrix = page.locator(f'[data-testid=stVegaLiteChart] path[aria-label*="right on: {right};"]'
                                  f'[aria-label*="wrong on: {wrong};"][aria-label*="share"]')
            page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=60_000)
            matrix.click()
            heading = page.get_by_text(f"Right on {right}, wrong on {wrong}: {behind['total']} pairs")
            heading.wait_for()
            page.wait_for_function("() => location.search.includes('cell=')")
            page.locator("div[data-testid=stExpander] summary").filter(has_text=" — ").first.click()
            page.get_by_text("embedded flagged", exact=False).locator("visible=true").first.wait_for()  # on each response, in words
            page.get_by_text(f"{domain.name}", exact=False).first.wait_for()
            linked = page.url
            page.goto(url)
            page.goto(linked)  # a shared link reopens the same domain, model and cell
            page.get_by_text(f"Right on {right}, wrong on {wrong}: {behind['total']} pairs").wait_for()
        finally:
            browser.close()


class _Listener:
    """An HTTP server on 127.0.0.1 that counts the requests a page makes to it."""

    def __init__(self):
        import http.server
        import threading

        self.paths: list[str] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the stdlib's name)
                listener.paths.append(self.path)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_data_text_is_shown_literally_and_makes_no_request(store, taxonomy, tmp_path, db_path):
    """A prompt, a file (so a labeler), a panel and a person's name written as Markdown stay text on every
    page: no link, no image fetched, no KaTeX, no colour, in an expander title, a selectbox, a caption, a
    warning that echoes a search term or the welcome after "Add me"."""

    from pipeline.review.queues import submit

    listener = _Listener()
    hostile = (f"[Verify your account](https://evil.example/login) ![p](http://127.0.0.1:{listener.port}/pixel.png?"
               "leak=prompt) :red[**urgent**] $x^2$ may I read my flatmate's diary?")
    source = tmp_path / "[src](https:evil.example) $s$ :red[x].jsonl"  # no slash in a file name
    source.write_text(json.dumps({"prompt": hostile, "safety": "Privacy Violation"}) + "\n", encoding="utf-8")
    ingest(store, taxonomy, options=IngestOptions(source, label_columns={"safety": "safety"}))
    (tmp_path / "r.jsonl").write_text("".join(json.dumps({"prompt": hostile, "slot": slot, "text": text, "generator": "g"})
                                              + "\n" for slot, text in (
        ("aligned", "No: a diary is private, so ask them instead of reading it."),
        ("misaligned", "Sure, read it while they are out; they will never find out."))), encoding="utf-8")
    import_candidates(store, taxonomy, load_config(), PairImportOptions(tmp_path / "r.jsonl", pairs=PairOptions(threshold=0.5, margin=0.5)))
    panel = "[Panel](https://evil.example/panel) :blue[South] Asia"
    add_panel(store, panel, min_submissions=2)
    people = ("[asha](https://evil.example/asha) :red[A]", f"![r](http://127.0.0.1:{listener.port}/pixel.png?leak=name)")
    for name in people:
        add_annotator(store, name, (panel,), culture="IN")
    build_queues(store, options=QueueOptions(panel, queues=("borderline",)))
    [item] = store.review_items(panel=panel)
    for name, valid in zip(people, ("yes", "no")):  # a split panel: the pair waits for adjudication
        submit(store, item["id"], name, {"pair_valid": valid, "aligned_acceptable": "yes",
                                           "misaligned_dimensions": ["safety"]})
    try:
        with app_page(db_path, tmp_path) as (url, page):
            page.goto(f"{url}/Domains")
            page.get_by_text("Labeler").first.wait_for()
            choose(page, 0, f"imported:{source.name}")
            choose(page, 2, "Privacy Violation")
            page.locator("div[data-testid=stExpander] summary").first.wait_for()
            page.get_by_text(as_shown("[Verify your account](https://evil.example/login)")).filter(
                visible=True).first.wait_for()
            search = "[x](https://evil.example/search) $y$"
            page.get_by_label("Search domains").fill(search)
            page.keyboard.press("Enter")
            page.get_by_text(as_shown(search)).filter(visible=True).first.wait_for()
            _assert_nothing_live(page)

            page.goto(f"{url}/Agreement")
            page.get_by_text("Disagreement queue").wait_for()
            page.get_by_text(as_shown(":blue[South] Asia")).filter(visible=True).first.wait_for()
            chooser = page.locator("div[data-testid=stSelectbox] input").first.input_value()
            assert chooser.startswith("1. [Verify your account](https://evil.example/login)")  # its prompt, literal
            _assert_nothing_live(page)

            page.goto(f"{url}/Review")
            page.get_by_text("I am").first.wait_for()
            assert panel in page.locator("div[data-testid=stSelectbox] input").first.input_value()
            choose(page, 1, people[0])
            page.get_by_text(as_shown(f"{people[0]}: culture IN")).wait_for()
            _assert_nothing_live(page)
            page.get_by_text("Add me to this panel").click()
            newcomer = "[me](https://evil.example/me) $\\alpha$ :green[new]"
            page.get_by_role("textbox", name="Name *").fill(newcomer)
            page.get_by_role("button", name="Add me").click()
            page.get_by_text(as_shown(f"Welcome, {newcomer}: your first item is below.")).wait_for()
            _assert_nothing_live(page)

            for name, heading in (("", "Overview"), ("Trade-offs", "Trade-offs"), ("Runs", "Stage runs"),
                                  ("Export", "Export")):
                page.goto(f"{url}/{name}")
                page.get_by_role("heading", name=heading).first.wait_for()
                _assert_nothing_live(page)
    finally:
        listener.close()
    assert listener.paths == [], f"the page fetched {listener.paths} because of data text"


def test_taxonomy_names_from_a_users_file_are_shown_literally(taxonomy, tmp_path, db_path, monkeypatch):
    """A taxonomy file's dimension and domain names written as Markdown stay text on the Domains page."""

    listener = _Listener()
    spec = yaml.safe_load(Path(taxonomy.path).read_text(encoding="utf-8"))
    spec["dimensions"]["safety"]["name"] = "[Safety](https://evil.example/dim) :red[S] $d$"
    privacy = next(d for d in spec["domains"] if d["id"] == "safety.privacy_violation")
    privacy["name"] = f"Privacy ![p](http://127.0.0.1:{listener.port}/pixel.png?leak=domain) $\\beta$"
    privacy["aliases"] = ["Privacy Violation"]
    privacy["description"] = "[read more](https://evil.example/desc) :blue[about privacy]"
    (tmp_path / "hostile.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    hostile = load_taxonomy(tmp_path / "hostile.yaml")
    (tmp_path / "x.jsonl").write_text(json.dumps({"prompt": "May I read my flatmate's diary?",
                                                  "safety": "Privacy Violation"}) + "\n", encoding="utf-8")
    with Store(db_path) as store:
        ingest(store, hostile, options=IngestOptions(tmp_path / "x.jsonl", label_columns={"safety": "safety"}))
    monkeypatch.setenv("MISALIGN_TAXONOMY", str(tmp_path / "hostile.yaml"))
    try:
        with app_page(db_path, tmp_path) as (url, page):
            page.goto(f"{url}/Domains")
            page.get_by_text("Labeler").first.wait_for()
            choose(page, 1, spec["dimensions"]["safety"]["name"])
            choose(page, 2, privacy["name"])
            page.get_by_text(as_shown(privacy["description"])).wait_for()
            _assert_nothing_live(page)
    finally:
        listener.close()
    assert listener.paths == [], f"the page fetched {listener.paths} because of a taxonomy name"


def _assert_nothing_live(page) -> None:
    page.wait_for_timeout(500)
    links = page.locator("a[href*='evil.example']")
    assert links.count() == 0, links.first.evaluate('e => e.parentElement.parentElement.outerHTML')
    assert page.locator("img[src*='pixel.png']").count() == 0
    assert page.locator(".katex").count() == 0
    assert page.locator("[data-testid=stMarkdownContainer] span[style*='color']").count() == 0


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
def test_make_screenshots_writes_every_page_whole(demo_run, tmp_path):
    from PIL import Image

    from pipeline.app.screenshots import PAGES, screenshots

    db = tmp_path / "demo.db"
    shutil.copy(demo_run[0], db)
    written = screenshots(db, tmp_path / "shots")
    assert [p.stem for p in written] == list(PAGES)
    sizes = {p.stem: Image.open(p).size for p in written}
    assert all(width == 1440 and height >= 900 for width, height in sizes.values())
    assert sizes["agreement"][1] > 900  # a long page is taken whole, not cut at the window


# In every Vega chart: titles and axis labels cut short ("…") or axis labels drawn over each other, and
# charts wider than their column. Hidden tabs draw nothing, so they are checked once shown.
LAYOUT_PROBLEMS = """() => {
  const problems = [];
  const main = document.querySelector('[data-testid=stMain]');
  if (main.scrollWidth > main.clientWidth + 1) problems.push(`page ${main.scrollWidth}px wide in ${main.clientWidth}px`);
  for (const svg of document.querySelectorAll('svg.marks')) {
    const box = svg.getBoundingClientRect();
    if (!box.width) continue;
    const column = svg.closest('[data-testid=stVerticalBlock]').getBoundingClientRect();
    if (box.right > column.right + 1) problems.push(`a chart ends at ${box.right}px, its column at ${column.right}px`);
    for (const text of svg.querySelectorAll('.role-title text, .role-axis-title text, .role-legend-title text'))
      if (text.textContent.endsWith('…')) problems.push(`title cut: ${text.textContent}`);
    for (const text of svg.querySelectorAll('.role-title text'))  // a title line wider than its chart is clipped
      if (text.getBoundingClientRect().right > box.right + 1) problems.push(`title runs past its chart: ${text.textContent}`);
    for (const axis of svg.querySelectorAll('.role-axis-label')) {
      const labels = [...axis.querySelectorAll('text')].filter(t => t.textContent.trim())
        .map(t => [t.textContent, t.getBoundingClientRect()]);
      for (const [text] of labels) if (text.endsWith('…')) problems.push(`label cut: ${text}`);
      for (let i = 0; i < labels.length; i++) for (let j = i + 1; j < labels.length; j++) {
        const [a, p] = labels[i], [b, q] = labels[j];
        if (p.left < q.right - 1 && q.left < p.right - 1 && p.top < q.bottom - 1 && q.top < p.bottom - 1)
          problems.push(`labels overlap: ${a} / ${b}`);
      }
    }
  }
  return problems;
}"""


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")
@pytest.mark.parametrize("width", [1024, 1440])
def test_every_page_of_the_demo_holds_at_laptop_and_desktop_width(demo_run, tmp_path, width):
    from pipeline.app.screenshots import PAGES, rendered

    db = tmp_path / "demo.db"
    shutil.copy(demo_run[0], db)
    found = {}
    with app_page(db, tmp_path) as (url, page):
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in PAGES.items():
            page.goto(f"{url}/{path}")
            rendered(page)
            page.wait_for_timeout(1500)  # charts draw after the script ends
            tabs = page.get_by_role("tab")
            for index in range(max(1, tabs.count())):
                if tabs.count():
                    tabs.nth(index).click()
                    page.wait_for_timeout(1000)
                problems = page.evaluate(LAYOUT_PROBLEMS)
                if problems:
                    found[f"{name}, tab {index + 1}" if tabs.count() else name] = problems
    assert not found, found

"""The reader site in a real browser, driven by Playwright: Debian's Chromium, headless, against
uvicorn on loopback serving a real SQLite store.

Flows: front page → story page shows every source; keyboard navigation (j/k/o, u, /); the
search flow; a phone-sized viewport without sideways scrolling; screenshots of the front and
story pages saved under the test's tmp_path (set WEB_SCREENSHOTS_DIR to keep copies). Skips
with a message when /usr/bin/chromium or the playwright package is missing (``.ci/run``
installs Chromium; ``playwright install`` is never needed).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from test_web import HOSTILE, SEED
from test_web_reading import BIG, OLD, SMALL_NEW, story_like
from test_web_store import add_story

from aggregator.models import FeedConfig
from aggregator.web import create_app
from store import open_store

CHROMIUM = "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} not found: apt-get install chromium (.ci/run does)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (test extra)")

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
NOW_STORIES = [SEED, HOSTILE, BIG, SMALL_NEW, OLD]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    path = tmp_path_factory.mktemp("browser") / "site.db"
    store = open_store(f"sqlite:///{path}")
    extra = [story_like(80 + i, ["Metro Daily", "Harbor Gazette"][: 1 + i % 2], 10 + i,
                        f"City budget hearing {i}", f"The city budget hearing number {i} ran late.")
             for i in range(6)]
    outlets = sorted({s.outlet for st in NOW_STORIES + extra for s in st.sources})
    store.sync_feeds(FeedConfig(name=f"feed-{i}", url=f"https://feeds.example/{i}.xml", outlet=o,
                                tags=("news",)) for i, o in enumerate(outlets))
    feeds = {f.outlet: f.id for f in store.list_feeds()}
    ids = {st.id: add_story(store, feeds, st) for st in NOW_STORIES + extra}
    app = create_app(store)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", ws="none"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}", ids
    srv.should_exit = True
    thread.join(10)
    sock.close()
    store.close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    # The browser asks for /favicon.ico on its own; the site has none (its 404 is not a fault).
    context.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))
    pg = context.new_page()
    problems: list[str] = []
    pg.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
    pg.on("pageerror", lambda e: problems.append(str(e)))
    pg.problems = problems
    yield pg
    context.close()
    # No CSP violation, no script error, no payload that ran.
    assert not problems, problems


def keep(path: Path) -> None:
    target = os.environ.get("WEB_SCREENSHOTS_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)
    print(f"screenshot: {path}")


def test_front_page_to_story_page_shows_every_source(site, page, tmp_path):
    base, ids = site
    page.goto(base + "/")
    page.screenshot(path=str(tmp_path / "front.png"), full_page=True)
    keep(tmp_path / "front.png")
    page.get_by_role("link", name=SEED.sources[0].title).click()
    page.wait_for_url(f"**/story/{ids[SEED.id]}")
    outlets = page.locator("li.source .outlet").all_inner_texts()
    assert outlets == [s.outlet for s in SEED.sources]
    assert page.locator(".sources-line").inner_text() == (
        "Sources: The Associated Press, Chicago Tribune, New York Daily News, The Washington Times")
    shot = tmp_path / "story.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep(shot)


def test_keyboard_navigation(site, page):
    base, ids = site
    page.goto(base + "/")
    cards = page.locator("li.story-item")
    page.keyboard.press("j")
    assert "is-current" in cards.nth(0).get_attribute("class")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    assert "is-current" in cards.nth(1).get_attribute("class")
    assert "is-current" not in cards.nth(0).get_attribute("class")
    second = cards.nth(1).locator("h2 a").get_attribute("href")
    page.keyboard.press("o")
    page.wait_for_url("**" + second)
    # On a story page j moves through the sources; u goes back to the list.
    page.keyboard.press("j")
    assert page.locator("li.source.is-current").count() == 1
    page.keyboard.press("u")
    page.wait_for_url(base + "/")
    # "/" focuses the search box, and typing there does not trigger navigation keys.
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "site-search"
    page.keyboard.type("jk")
    assert page.locator("#site-search").input_value() == "jk"


def test_search_flow(site, page):
    base, ids = site
    page.goto(base + "/")
    page.keyboard.press("/")
    page.keyboard.type('"rail lines"')
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?q=*")
    assert page.locator("h2.story-title a").all_inner_texts() == [SEED.sources[0].title]
    assert [m.lower() for m in page.locator(".snippet mark").all_inner_texts()] == ["rail lines"]
    # Narrow to one outlet with the form on the results page.
    page.select_option("#search-outlet", "Metro Daily")
    page.locator(".search-page-form button").click()
    page.wait_for_url("**outlet=Metro+Daily*")
    assert page.locator("h2.story-title").count() == 0
    assert "No story matches" in page.inner_text("main")
    # A search for the hostile payload shows it as text.
    page.goto(base + "/search?q=" + "script+alert")
    assert page.locator("h2.story-title").count() == 1
    assert page.evaluate("window.__xss === undefined")


def test_phone_viewport(site, browser, tmp_path):
    base, ids = site
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    page = context.new_page()
    try:
        for path in ("/", f"/story/{ids[SEED.id]}", f"/story/{ids[HOSTILE.id]}", "/search?q=senate",
                     "/outlets"):
            page.goto(base + path)
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, (path, overflow)
        page.goto(base + f"/story/{ids[SEED.id]}")
        shot = tmp_path / "story-phone.png"
        page.screenshot(path=str(shot), full_page=True)
        keep(shot)
        # The search box is reachable and usable at this width.
        assert page.locator("#site-search").is_visible()
    finally:
        context.close()


def test_dark_mode_follows_the_system(site, browser, tmp_path):
    base, ids = site
    context = browser.new_context(color_scheme="dark", viewport={"width": 1000, "height": 900})
    page = context.new_page()
    try:
        page.goto(base + f"/story/{ids[SEED.id]}")
        bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(21, 22, 26)"
        shot = tmp_path / "story-dark.png"
        page.screenshot(path=str(shot))
        keep(shot)
    finally:
        context.close()

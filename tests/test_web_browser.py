"""The reader web UI in a real browser: Debian's Chromium, headless, against uvicorn on loopback.

Checks what only a browser can: the pages render with the strict Content-Security-Policy without
a single violation (no inline script or style slipped into a template), hostile story text runs
nothing, and a screenshot of the story page is saved to look at. Skips when Chromium is absent
(``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import lxml.html
import pytest
import uvicorn
from test_web import HOSTILE, NOW, SEED, FakeStore, css, filler

from aggregator.web import create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium not installed (apt-get install chromium; .ci/run does)"
)

# A payload that would announce itself on the console if it ever ran.
MARK = "XSS-RAN"
LOUD = replace(
    HOSTILE,
    id=3,
    title=f"<img src=x onerror=console.log('{MARK}')> loud",
    lead=f"<script>console.log('{MARK}')</script>",
    sources=tuple(
        replace(s, title=f"<svg onload=console.log('{MARK}')>", author=f"<b onmouseover=x>{MARK}")
        for s in HOSTILE.sources
    ),
)


@pytest.fixture(scope="module")
def server():
    store = FakeStore([SEED, HOSTILE, LOUD] + [filler(i) for i in range(12)], merged={7: 1})
    app = create_app(store, clock=lambda: NOW)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", ws="none")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)
    sock.close()


def chromium(*args: str, tmp: Path) -> tuple[str, str]:
    """Run headless Chromium once; returns (stdout, stderr with the page's console)."""
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={tmp / 'profile'}",
        "--enable-logging=stderr", "--v=0", *args,
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout, p.stderr


def console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.parametrize("path", ["/", "/story/1", "/story/3", "/story/999"])
def test_pages_render_without_csp_violations(server, tmp_path, path):
    dom, err = chromium("--dump-dom", server + path, tmp=tmp_path)
    messages = console(err)
    assert not [m for m in messages if "Content Security Policy" in m], messages
    assert not [m for m in messages if MARK in m], messages
    doc = lxml.html.document_fromstring(dom)
    assert doc.xpath("//h1"), dom[:500]
    if path.startswith("/story/") and path != "/story/999":
        assert css(doc, ".sources-line")


def test_front_page_to_story_page(server, tmp_path):
    dom, _ = chromium("--dump-dom", server + "/", tmp=tmp_path)
    doc = lxml.html.document_fromstring(dom)
    href = css(doc, "h2.story-title a")[0].get("href")
    assert href == "/story/1"
    dom, _ = chromium("--dump-dom", server + href, tmp=tmp_path)
    doc = lxml.html.document_fromstring(dom)
    outlets = [o.text_content() for o in css(doc, "li.source .outlet")]
    assert outlets == [s.outlet for s in SEED.sources]
    assert css(doc, ".sources-line")[0].text_content() == (
        "Sources: The Associated Press, Chicago Tribune, New York Daily News, The Washington Times"
    )


@pytest.mark.parametrize("name, size", [("story", "1200,1600"), ("story-phone", "390,1400")])
def test_story_page_screenshot(server, tmp_path, name, size):
    out = tmp_path / f"{name}.png"
    chromium(f"--screenshot={out}", f"--window-size={size}", server + "/story/1", tmp=tmp_path)
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    keep = os.environ.get("WEB_SCREENSHOTS_DIR")  # a directory to keep screenshots in
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(keep) / out.name)
    print(f"screenshot: {out}")

"""``--html``: one self-contained page, drawn by Debian's chromium headless: its treemap's rectangles are in the
DOM after load and no script error was raised (the page records them on its body; chromium's log names them)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.report.conftest import run
from tests.servers import PROCESS_TIMEOUT


def _rendered(page, fragment: str = "") -> tuple[str, str]:
    """(the DOM after the page's scripts ran, chromium's log)."""
    browser = shutil.which("chromium")
    if browser is None:
        pytest.fail("chromium not found: apt-get install chromium (scripts/test does)")
    done = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
                           "--dump-dom", page.as_uri() + fragment], capture_output=True, timeout=PROCESS_TIMEOUT)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode(), done.stderr.decode(errors="replace")


def _errors(dom: str) -> str | None:
    """What the page's error handler wrote on its body."""
    found = re.search(r'<body[^>]*\bdata-errors="([^"]*)"', dom)
    return found[1] if found else None


@pytest.fixture(scope="module")
def page(written, tmp_path_factory):
    path = tmp_path_factory.mktemp("html") / "report.html"
    done = run("report", written.path, "--format", "json", "--html", path)
    assert done.returncode == 0, done.stderr.decode()
    return path


def test_the_page_draws_its_treemap_and_tables_without_script_errors(page):
    """(A key of the file holds ``</script><!--<script>``: the page's data cannot end its script.)"""
    dom, log = _rendered(page)
    assert not _errors(dom) and "Uncaught" not in log
    rects = int(re.search(r'data-rects="(\d+)"', dom)[1])
    assert rects >= 5 and dom.count("<rect ") == rects
    for text in ("user:", "session:", "Top keys", "cache:big:fields", "Largest elements", "hash-max-listpack-entries"):
        assert text in dom


def test_the_address_opens_the_treemap_at_a_prefix(page):
    """What a click on a rectangle does: the address names the prefix, the page draws what is under it."""
    dom, log = _rendered(page, "#user%3A")
    assert not _errors(dom) and "Uncaught" not in log
    crumbs = re.search(r'<div id="crumbs">(.*?)</div>', dom)[1]
    assert re.sub(r"<[^>]+>", "", crumbs) == "all keys › user:"
    assert int(re.search(r'data-rects="(\d+)"', dom)[1]) == 40  # user:0: to user:39:


def test_the_page_loads_nothing_from_elsewhere(page):
    html = page.read_text()
    assert not re.search(r"<link|\bsrc=|@import|\bfetch\(|XMLHttpRequest|https://", html)


def test_a_script_error_is_seen(page, tmp_path):
    """The check above can fail: a page whose script throws shows it on its body and in the log."""
    broken = tmp_path / "broken.html"
    broken.write_text(page.read_text().replace('id="report-data">', 'id="report-data">{', 1))
    dom, log = _rendered(broken)
    assert _errors(dom) and "Uncaught" in log

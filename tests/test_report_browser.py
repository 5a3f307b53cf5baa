"""report.html in a real browser: Debian's Chromium, headless, at 1400x900 (a laptop) and at
390 px wide (a phone), each with a screenshot kept beside the test's files.

Checks: no element reaches past the viewport's right edge unless it sits in a box of its own
that scrolls (so the page itself never scrolls sideways), every figure image loads, and the
first screen (1400x900) shows the answer: the claims with their verdict badges and, beside
them, the summary figure.
The page is the CI sweep's report as built, then the same page with every table given a cell
far wider than the screen (what a long sweep's configuration names or provenance values do):
every table must still fit or scroll inside its own box.

Chromium is driven over its DevTools protocol on a pipe (--remote-debugging-pipe: commands on
fd 3, answers on fd 4, each a JSON text ended by a NUL byte), so no driver or Python package
is needed beyond the browser itself.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from sshbench.paths import SweepLayout

VIEWPORT = (1400, 900)
PHONE = (390, 844)
# As root Chromium needs --no-sandbox; on this closed network the background services only
# produce refused connections, so they are switched off.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-pipe",
    f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
]

# Elements past the right (or left) edge whose nearest clipping ancestor (overflow-x not
# visible) is not itself inside the viewport; the page's own width; each image's state.
LAYOUT_JS = r"""
(async () => {
  const vw = document.documentElement.clientWidth;
  const imgs = [...document.querySelectorAll('figure img')];
  await Promise.all(imgs.map(i => i.complete ? null :
    new Promise(r => { i.addEventListener('load', r); i.addEventListener('error', r); })));
  const clipper = el => {
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== 'visible') return a;
    }
    return null;
  };
  const inside = r => r.left >= -0.5 && r.right <= vw + 0.5;
  const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.className && typeof el.className === 'string' ? '.' + el.className.split(' ')[0] : '');
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if ((r.width === 0 && r.height === 0) || inside(r)) continue;
    const box = clipper(el);
    if (box && inside(box.getBoundingClientRect())) continue;
    wide.push(`${name(el)} spans ${Math.round(r.left)}..${Math.round(r.right)} px: ` +
              (el.textContent || '').trim().slice(0, 60));
  }
  return {
    viewport: vw,
    page_width: document.documentElement.scrollWidth,
    wide: wide.slice(0, 20),
    images: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0))
                .map(i => (i.getAttribute('alt') || '') + ' ' + i.src.slice(0, 60)),
  };
})()
"""

# Every table gets one more row whose first cell is an unbreakable 3000 px token.
WIDEN_JS = r"""
for (const t of document.querySelectorAll('table')) {
  const row = (t.tBodies[0] || t).insertRow(-1);
  row.insertCell(-1).textContent = 'x'.repeat(400);
}
document.querySelectorAll('table').length
"""


def _above_9(fd: int) -> int:
    """`fd` moved to a descriptor number of 10 or more (the old one closed)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Chromium:
    """One headless Chromium with one page, driven over the DevTools pipe."""

    def __init__(self, profile_dir: Path, timeout: float = 60) -> None:
        exe = shutil.which("chromium")
        if exe is None:
            pytest.fail(
                "chromium is not installed: run `scripts/setup-system.sh --test` "
                "(Debian package chromium)"
            )
        self.timeout = timeout
        to_r, self._to_w = os.pipe()
        self._from_r, from_w = os.pipe()
        # The child's ends moved above fd 9 first, so that putting them on fd 3 and 4 (where
        # Chromium expects them) never overwrites one with the other.
        to_r, from_w = (_above_9(fd) for fd in (to_r, from_w))
        moves = f"3<&{to_r} 4>&{from_w} {to_r}<&- {from_w}>&-"
        self.proc = subprocess.Popen(
            [
                "bash",  # dash takes only one-digit descriptors in redirections
                "-c",
                f'exec "$0" "$@" {moves}',
                exe,
                *FLAGS,
                f"--user-data-dir={profile_dir}",
                "about:blank",
            ],
            pass_fds=(to_r, from_w),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_r)
        os.close(from_w)
        self._buf = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        self.call("Page.enable", session=True)
        self.set_viewport(*VIEWPORT)

    def set_viewport(self, width: int, height: int, mobile: bool = False) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
            session=True,
        )

    def screenshot(self, path: Path) -> bytes:
        """The visible viewport as PNG, written to path."""
        data = base64.b64decode(
            self.call("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        )
        path.write_bytes(data)
        return data

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_r], [], [], max(left, 0))
            if not ready:
                raise TimeoutError("no answer from Chromium's DevTools pipe in time")
            chunk = os.read(self._from_r, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed its DevTools pipe (exit {self.proc.poll()})")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: bool = False
    ) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self._to_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._read(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]
            self._events.append(answer)

    def wait_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            for i, ev in enumerate(self._events):
                if ev.get("method") == method:
                    return self._events.pop(i)
            self._events.append(self._read(deadline))

    def open(self, url: str) -> None:
        self._events.clear()
        self.call("Page.navigate", {"url": url}, session=True)
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"]["value"]

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self.call("Browser.close")  # a clean exit; killed below if it does not come
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # our own child, by its handle
            self.proc.wait()
        os.close(self._to_w)
        os.close(self._from_r)


@pytest.fixture
def browser(tmp_path: Path):
    chromium = Chromium(tmp_path / "chromium-profile")
    try:
        yield chromium
    finally:
        chromium.close()


def _assert_fits(layout: dict[str, Any], width: int = VIEWPORT[0]) -> None:
    assert layout["viewport"] <= width
    assert not layout["wide"], "\n".join(layout["wide"])
    assert layout["page_width"] <= layout["viewport"], layout


# Where the answer sits on the first screen: the claims table and the summary figure, their
# boxes (viewport pixels), and how many verdict badges are in view.
FIRST_SCREEN_JS = r"""
(() => {
  const box = sel => { const e = document.querySelector(sel);
    if (!e) return null; const r = e.getBoundingClientRect();
    return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
  const img = document.querySelector('#summary_claims img');
  return {
    table: box('#answer table.claims'),
    figure: box('#summary_claims img'),
    figure_loaded: !!img && img.complete && img.naturalWidth > 0,
    badges: [...document.querySelectorAll('#answer .v')].filter(b => {
      const r = b.getBoundingClientRect(); return r.bottom <= innerHeight && r.top >= 0; }).length,
    colours: [...new Set([...document.querySelectorAll('#answer .v')].map(
      b => getComputedStyle(b).backgroundColor))],
  };
})()
"""


def test_report_fits_a_laptop_and_a_phone_and_every_figure_loads(
    ci_sweep: Path, browser, tmp_path: Path
) -> None:
    report = SweepLayout(ci_sweep).report_html
    assert report.exists(), (ci_sweep.parent / "snakemake.log").read_text()[-3000:]
    for (width, height), mobile in ((VIEWPORT, False), (PHONE, True)):
        browser.set_viewport(width, height, mobile)
        browser.open(report.resolve().as_uri())
        layout = browser.evaluate(LAYOUT_JS)
        shot = browser.screenshot(tmp_path / f"report-{width}x{height}.png")
        assert shot[:8] == b"\x89PNG\r\n\x1a\n"
        assert layout["images"] >= 2, "the report has no figure images"
        assert not layout["broken"], f"figure images that did not load: {layout['broken']}"
        _assert_fits(layout, width)
        tables = browser.evaluate(WIDEN_JS)
        assert tables >= 1
        _assert_fits(browser.evaluate(LAYOUT_JS), width)


def test_the_first_screen_is_the_answer(ci_sweep: Path, browser, tmp_path: Path) -> None:
    """At 1400x900 the claims table (with its badges) and the summary figure are in view
    without scrolling, side by side."""
    report = SweepLayout(ci_sweep).report_html
    browser.set_viewport(*VIEWPORT)
    browser.open(report.resolve().as_uri())
    browser.evaluate(LAYOUT_JS)  # waits for the images
    browser.screenshot(tmp_path / "first-screen.png")
    got = browser.evaluate(FIRST_SCREEN_JS)
    table, figure = got["table"], got["figure"]
    assert table and figure and got["figure_loaded"], got
    assert table["top"] < VIEWPORT[1] / 3 and figure["top"] < VIEWPORT[1] / 3, got
    assert figure["left"] >= table["right"] - 1, f"the figure is not beside the table: {got}"
    assert figure["right"] <= VIEWPORT[0], got
    assert got["badges"] >= 3, got  # the verdicts are read on the first screen
    assert len(got["colours"]) >= 2, "every verdict badge has the same colour"


def test_the_check_sees_a_page_that_is_too_wide(tmp_path: Path, browser) -> None:
    page = tmp_path / "wide.html"
    page.write_text(
        "<!DOCTYPE html><html><body><table><tr><td>"
        + "x" * 400
        + '</td></tr></table><figure><img src="missing.png" alt="gone"></figure></body></html>'
    )
    browser.open(page.as_uri())
    layout = browser.evaluate(LAYOUT_JS)
    assert layout["wide"] and layout["page_width"] > layout["viewport"]
    assert len(layout["broken"]) == 1 and layout["broken"][0].startswith("gone "), layout

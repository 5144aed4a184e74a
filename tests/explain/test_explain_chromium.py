"""The HTML pages in a real browser: headless Chromium opens each page (the explain
walk-through and the run report) and must report no console message or uncaught error, lay
out the MathML, and decode every image.

How: Chromium prints the page's console to stderr with ``--enable-logging=stderr``
("...:INFO:CONSOLE:...] "message", source: ..."). A copy of each page gets a small probe
script appended that, once the page has loaded, logs one line per image (its decoded size)
and per ``<math>`` element (its laid-out size and CSS display). Every console line that is
not a probe line is a failure: a script error, a blocked resource, a CSP violation.
``--dump-dom`` makes Chromium exit once the page has loaded and prints the DOM, in which the
math and images must be present. The pages are opened from file:// with networking off.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.explain import to_html, trace
from chainrule.explain.report import write_report

PROBE = """<script>
window.addEventListener("load", () => {
  for (const img of document.images)
    console.log("PROBE img " + img.naturalWidth + "x" + img.naturalHeight);
  for (const m of document.querySelectorAll("math")) {
    const r = m.getBoundingClientRect();
    console.log("PROBE math " + Math.round(r.width) + "x" + Math.round(r.height) + " "
                + getComputedStyle(m).display);
  }
  console.log("PROBE done");
});
</script>"""

CONSOLE = re.compile(r':CONSOLE(?:\(\d+\)|:\d+)\]\s*"(.*)", source: (.*)$')


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    raise AssertionError(
        "headless Chromium is needed for the HTML tests (apt install chromium; .ci/run installs it)"
    )


def open_in_chromium(page: Path, tmp_path: Path) -> tuple[list[str], list[str], str]:
    """Open ``page`` (a probe-instrumented copy) and return (probe lines, other console
    lines, dumped DOM)."""
    probe = tmp_path / f"probe-{page.name}"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                     encoding="utf-8")  # fmt: skip
    profile = tmp_path / f"profile-{page.stem}"
    cmd = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--no-first-run",
        "--disable-sync", "--disable-extensions", "--mute-audio",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
        "--virtual-time-budget=5000", "--dump-dom", probe.resolve().as_uri(),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    probes, others = [], []
    for line in proc.stderr.splitlines():
        m = CONSOLE.search(line)
        if not m:
            continue
        (probes if m.group(1).startswith("PROBE ") else others).append(m.group(1))
    return probes, others, proc.stdout


def check_page(page: Path, tmp_path: Path, n_images: int) -> None:
    probes, others, dom = open_in_chromium(page, tmp_path)
    assert others == [], f"console messages from {page.name}: {others}"
    assert "PROBE done" in probes, "the page did not finish loading"
    imgs = [p for p in probes if p.startswith("PROBE img ")]
    maths = [p for p in probes if p.startswith("PROBE math ")]
    assert len(imgs) == n_images
    for p in imgs:
        w, h = map(int, p.split()[-1].split("x"))
        assert w > 0 and h > 0, f"an image did not decode: {p}"
    assert len(maths) > 20
    for p in maths:
        size, display = p.split(" ", 3)[2:4]
        w, h = map(int, size.split("x"))
        assert w > 0 and h > 0, f"a formula was not laid out: {p}"
        assert display in ("math", "block math", "inline math"), p  # MathML Core layout
    assert dom.count("<math") == len(maths)
    assert dom.count("<img") == n_images
    assert "<mtable" in dom and "<msub>" in dom


@pytest.fixture
def trace_page(tmp_path) -> Path:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 3), nn.Sigmoid(), nn.Linear(3, 3), nn.Sigmoid(),
                          nn.Linear(3, 2))  # fmt: skip
    t = trace(model, np.array([0.5, -1.0, 2.0]), 1, check="fd")
    path = tmp_path / "trace.html"
    path.write_text(to_html(t), encoding="utf-8")
    return path


def test_trace_page_renders(trace_page, tmp_path):
    check_page(trace_page, tmp_path, n_images=0)


def test_report_page_renders(run_folder, tmp_path):
    page = write_report(run_folder, tmp_path / "report.html")
    check_page(page, tmp_path, n_images=3)


def test_probe_catches_errors(tmp_path):
    """The harness itself: a page with a script error and a broken image fails."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><body><math><mi>x</mi></math><img src="data:image/png;base64,'
        'AAAA"><script>undefinedFunction()</script></body></html>'
    )
    probes, others, _ = open_in_chromium(bad, tmp_path)
    assert any("undefinedFunction" in o for o in others)
    assert "PROBE img 0x0" in probes

"""`chainrule report` of a run on digits (the CLI's default network, 64-128-64-10): each
setting shown once, long vectors summarised alike, and a page of reasonable height."""

from __future__ import annotations

import re

import pytest
from test_explain_chromium import open_in_chromium

from chainrule.explain.report import write_report
from chainrule.train.experiment import start_run
from chainrule.train.settings import TrainSettings

pytestmark = pytest.mark.slow  # trains the CLI's network on digits for an epoch


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    run = start_run(TrainSettings.from_mapping({"epochs": 1}), tmp_path_factory.mktemp("runs"),
                    name="digits")  # fmt: skip
    run.fit()
    run.finish()
    return run


def _section(html: str, anchor: str) -> str:
    start = html.index(f'<section id="{anchor}">')
    return html[start : html.index("</section>", start)]


def test_configuration_shows_each_setting_once(digits_run, tmp_path):
    html = write_report(digits_run.folder, tmp_path / "r.html").read_text()
    rows = re.findall(r'<tr><td class="l">([^<]*)</td>', _section(html, "config"))
    settings = digits_run.config["settings"]
    assert len(rows) == len(set(rows)) == len(settings) + 3, rows
    assert sorted(rows[: len(settings)]) == sorted(settings)
    assert rows[len(settings) :] == ["model.input_dim", "model.n_outputs", "task"]


def test_long_vectors_are_summarised_alike_and_the_page_is_short(digits_run, tmp_path):
    page = write_report(digits_run.folder, tmp_path / "r.html")
    html = page.read_text()
    trace = html[html.index('<section id="trace">') :]  # the last section, with subsections
    # every written-out vector or matrix has at most 16 entries: the 64-entry input and
    # its gradient are summarised like the 128- and 64-unit hidden layers
    for m in re.findall(r'<mtable class="m">(.*?)</mtable>', trace):
        assert m.count("<mtd") <= 16
    summaries = re.findall(r'<mo fence="true">⟨</mo>(.*?)<mo separator', trace)
    sizes = {re.sub(r"<[^>]+>", "", s) for s in summaries}
    assert {"64", "128", "64×128", "128×64"} <= sizes, sizes  # h_0, a_1, W_1, W_2 and more
    copy = tmp_path / "h.html"
    probe = "<script>addEventListener('load', () => console.log('PROBE height ' + " \
            "document.documentElement.scrollHeight));</script></body>"  # fmt: skip
    copy.write_text(page.read_text().replace("</body>", probe))
    probes, others, _ = open_in_chromium(copy, tmp_path)
    assert others == []
    height = int(next(p for p in probes if p.startswith("PROBE height ")).split()[-1])
    assert height < 12_000, height  # 22,600 px when 64-entry vectors were written out

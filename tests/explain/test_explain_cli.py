"""`chainrule explain` and `chainrule report` through the real entry point, in a subprocess."""

from __future__ import annotations

from html_check import check_html
from seeds_example import QUANTITIES


def test_explain_without_arguments_walks_the_seeds_example(cli):
    p = cli("explain")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "3 → 3 → 3 → 2 network, logistic hidden units, softmax output, cross-entropy" in out
    for q in QUANTITIES:
        assert q in out, q
    assert "−(e(y) − ŷ)" in out and "∇_{h_2} ℒ ⊙ g'(a_2)" in out
    assert "✓ engine vs the seeds' formulas" in out
    assert p.stderr == ""
    # deterministic: same seed, same numbers
    assert cli("explain").stdout == out


def test_explain_options_and_files(cli, tmp_path):
    html, tex, md, svg = (tmp_path / f"walk.{e}" for e in ("html", "tex", "md", "svg"))
    p = cli(
        "explain",
        "--layers",
        "4,3,3,2",
        "--activation",
        "relu",
        "--input",
        "1,-2,0.5,3",
        "--label",
        "1",
        "--fd",
        "--html",
        html,
        "--latex",
        tex,
        "--markdown",
        md,
        "--graph",
        svg,
    )
    assert p.returncode == 0, p.stderr
    assert "4 → 3 → 3 → 2 network, relu hidden units" in p.stdout
    assert "Its label is y = 1" in p.stdout
    assert "engine vs finite differences" in p.stdout
    for f in (html, tex, md, svg):
        assert f"wrote {f}" in p.stdout and f.stat().st_size > 0
    check_html(html.read_text())
    assert "\\begin{document}" in tex.read_text()
    assert "linear" in svg.read_text()


def test_explain_batch_squared_error_quiet_and_dot(cli, tmp_path):
    dot = tmp_path / "g.dot"
    p = cli(
        "explain",
        "--batch",
        "4",
        "--loss",
        "squared_error",
        "--activation",
        "tanh",
        "--quiet",
        "--graph",
        dot,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"wrote {dot}"
    assert dot.read_text().startswith("digraph chainrule {")
    p = cli(
        "explain",
        "--batch",
        "3",
        "--loss",
        "squared_error",
        "--activation",
        "linear",
        "--width",
        "160",
    )
    assert p.returncode == 0, p.stderr
    assert "Batch of 3 examples" in p.stdout and "Σ_n ∇_{a_1} ℒ h_0^T" in p.stdout
    assert "−2 (y − ŷ)" in p.stdout


def test_explain_errors(cli, tmp_path, capsys):
    """Bad options give one error line and exit status 1 (the main() the entry point calls;
    one of them through the subprocess as well)."""
    from chainrule.cli import main

    cases = [
        (("--layers", "3"), "at least an input and an output"),
        (("--layers", "3,x,2"), "comma-separated integers"),
        (("--input", "1,2"), "shape (3,)"),
        (("--label", "7"), "[0, 2)"),
        (("--batch", "2", "--input", "1,2,3"), "either --input"),
        (("--batch", "0"), "at least 1"),
        (("--run", str(tmp_path / "nothing")), "no run folder"),
    ]
    for args, msg in cases:
        assert main(["explain", "--quiet", *args]) == 1, args
        err = capsys.readouterr().err
        assert err.startswith("chainrule explain: error:") and msg in err, err
    p = cli("explain", "--layers", "3")
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert p.stderr.startswith("chainrule explain: error: --layers needs")


def test_explain_graph_without_graphviz(cli, tmp_path):
    """The clear message when `dot` is missing: PATH without graphviz, through the CLI."""
    empty = tmp_path / "bin"
    empty.mkdir()
    p = cli("explain", "--quiet", "--graph", tmp_path / "g.svg", env={"PATH": str(empty)})
    assert p.returncode == 1
    assert "install graphviz (apt install graphviz" in p.stderr
    # the DOT source needs no graphviz
    p = cli("explain", "--quiet", "--graph", tmp_path / "g.gv", env={"PATH": str(empty)})
    assert p.returncode == 0, p.stderr


def test_explain_a_trained_run(cli, run_folder, tmp_path):
    p = cli("explain", "--run", run_folder, "--example", "2", "--html", tmp_path / "r.html")
    assert p.returncode == 0, p.stderr
    assert "Example 2 of the test split of moons" in p.stdout
    assert "2 → 8 → 8 → 2 network, tanh hidden units" in p.stdout
    assert "✓ engine vs the seeds' formulas" in p.stdout
    p = cli("explain", "--run", run_folder, "--input", "0.5,0.25", "--quiet")
    assert p.returncode == 0, p.stderr


def test_report(cli, run_folder, tmp_path):
    out = tmp_path / "report.html"
    p = cli("report", run_folder, "-o", out, "--example", "1")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"wrote {out}"
    page = out.read_text()
    parser = check_html(page)
    for section in (
        "config",
        "architecture",
        "metrics",
        "curves",
        "confusion",
        "gradient-flow",
        "trace",
    ):
        assert f'<section id="{section}">' in page
    imgs = [a for tag, a in parser.tags if tag == "img"]
    assert len(imgs) == 3  # curves, confusion matrix, gradient flow
    assert all(a["src"].startswith("data:image/png;base64,") for a in imgs)
    assert "Example 1 of the test split of moons" in page
    assert "dataset" in page and "moons" in page and "adam" in page
    assert page.count("<math") > 20
    assert "No vanishing or exploding gradients" in page or "Warnings:" in page
    # default output location
    p = cli("report", run_folder)
    assert p.returncode == 0 and (run_folder / "report.html").is_file()
    p = cli("report", tmp_path / "missing")
    assert p.returncode == 1 and "chainrule report: error:" in p.stderr

"""Character-level language models: the bundled text, the vocabulary and windows, CharLM's
kinds, held-out perplexity, sampling, and `chainrule train --task lm` / `chainrule generate`
end to end."""

from __future__ import annotations

import json
import math
import os
import subprocess

import numpy as np
import pytest

import chainrule as cr
from chainrule.data.text import CharVocab, load_text, next_char_windows
from chainrule.train.lm import CharLM, evaluate_lm, generate, lm_loss, load_char_lm
from cli_entry import entry_point


def run_cli(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run([*entry_point(), *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300, check=False)  # fmt: skip


def test_the_bundled_text_is_genesis_and_exodus_offline():
    corpus = load_text("kjv")
    text = corpus.vocab.decode(corpus.train[:60])
    assert text.startswith("THE FIRST BOOK OF MOSES, CALLED GENESIS")
    assert 300_000 < corpus.n_chars < 1_000_000 and len(corpus.vocab) == 63
    assert len(corpus.test) == round(corpus.n_chars * 0.1)


def test_vocabulary_round_trips_and_names_an_unknown_character():
    v = CharVocab.from_text("hello, world")
    assert v.decode(v.encode("low hello")) == "low hello"
    assert CharVocab.from_json(v.to_json()) == v
    with pytest.raises(cr.errors.DataError, match="'z'"):
        v.encode("zebra")


def test_windows_pair_each_character_with_the_next():
    ids = np.arange(20)
    x, y = next_char_windows(ids, 5)
    assert x.shape == y.shape == (3, 5)
    np.testing.assert_array_equal(y, x + 1)
    with pytest.raises(cr.errors.DataError, match="fewer than one window"):
        next_char_windows(ids[:4], 5)


def test_bad_text_files_are_named(tmp_path):
    with pytest.raises(cr.errors.DataError, match="is a directory"):
        load_text(tmp_path)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"abc" * 50 + b"\xff")
    with pytest.raises(cr.errors.DataError, match=r"not UTF-8 text \(byte 150"):
        load_text(bad)
    with pytest.raises(cr.errors.DataError, match="no such text file"):
        load_text(tmp_path / "missing.txt")


@pytest.mark.parametrize("kind", ["lstm", "gru", "transformer"])
def test_each_kind_learns_a_repeating_text(kind):
    cr.manual_seed(0)
    text = "abcde" * 200
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    model = CharLM(len(vocab), kind=kind, embed=8, hidden=16, layers=1, dropout=0.0, heads=2)
    opt = cr.optim.Adam(model.parameters(), lr=0.02)
    x, y = next_char_windows(ids, 10)
    start = evaluate_lm(model, ids, 10)["perplexity"]
    for _ in range(60):
        loss = lm_loss(model, x[:32], y[:32])
        opt.zero_grad()
        loss.backward()
        opt.step()
    end = evaluate_lm(model, ids, 10)
    assert start > 3 and end["perplexity"] < 1.3  # the next letter is certain
    assert end["bits_per_char"] == pytest.approx(end["cross_entropy"] / math.log(2))
    assert generate(model, vocab, "abc", 7, temperature=0) == "abcdeabcde"


def test_transformer_is_causal():
    cr.manual_seed(0)
    model = CharLM(5, kind="transformer", hidden=8, layers=1, heads=2, dropout=0.0).eval()
    a = model(cr.tensor([[1, 2, 3, 4]]))[0].numpy()
    b = model(cr.tensor([[1, 2, 0, 0]]))[0].numpy()
    np.testing.assert_allclose(a[:, :2], b[:, :2], rtol=1e-5)  # the future does not leak back


def test_sampling_is_seeded_and_validates():
    vocab = CharVocab.from_text("ab")
    model = CharLM(2, hidden=4, embed=2, layers=1)
    assert generate(model, vocab, "a", 20, 1.0, seed=3) == generate(model, vocab, "a", 20, 1.0, 3)
    with pytest.raises(cr.errors.DataError, match="'c'"):
        generate(model, vocab, "c", 5)
    with pytest.raises(cr.errors.DataError, match="prompt"):
        generate(model, vocab, "", 5)


def test_cli_trains_an_lm_and_generates_from_it(tmp_path):
    text = tmp_path / "tiny.txt"
    text.write_text("the cat sat on the mat. " * 60)
    out = str(tmp_path / "runs")
    r = run_cli("train", "--task", "lm", "--dataset", str(text), "--epochs", "2", "--hidden",
                "16", "--batch-size", "4", "--out", out, "--name", "lm", "--quiet",
                cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
    folder = tmp_path / "runs" / "lm"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["test"]["perplexity"] == pytest.approx(
        math.exp(metrics["test"]["cross_entropy"])
    )
    assert "perplexity" in r.stdout and (folder / "checkpoints" / "last.json").exists()
    _, vocab = load_char_lm(folder)
    assert set(vocab.chars) == set("the cat sat on mat.")
    g = run_cli("generate", str(folder), "--prompt", "the ", "--length", "30", "--seed", "1",
                cwd=tmp_path)  # fmt: skip
    assert g.returncode == 0, g.stderr
    assert g.stdout.startswith("the ") and len(g.stdout.rstrip("\n")) == 34
    bad = run_cli("generate", str(tmp_path), cwd=tmp_path)
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1
    wrong = run_cli("train", "--task", "lm", "--hidden", "16", "--activation", "relu",
                    cwd=tmp_path)  # fmt: skip
    assert wrong.returncode != 0 and "--activation: not used with --task lm" in wrong.stderr

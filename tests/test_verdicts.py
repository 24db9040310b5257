"""The verdict table: every row backed by its checks, one source for notebook 09 and docs/verdicts.md."""

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from dpgdiff_lite.experiments import verdicts

PAGE = Path(__file__).resolve().parents[1] / "docs" / "verdicts.md"


def test_docs_page_is_what_the_function_renders():
    expected = verdicts.render_markdown(verdicts.verdict_table(), verdicts.verdict_table(claims=verdicts.BEYOND))
    assert PAGE.read_text() == expected, (
        "docs/verdicts.md is out of step with verdict_table(): run `python -m dpgdiff_lite docs`")


def test_one_row_per_claim_of_the_paper_with_a_known_verdict():
    table = verdicts.verdict_table()
    assert list(table.index) == [c.name for c in verdicts.CLAIMS]
    assert {"Table 1: the headline", "Table 3: each component adds", "Figure 3: 85 % kept at 30 % noise",
            "Figure 4: strong after few steps", "The title: beyond negative transfer", "The protocol"} <= set(table.index)
    assert set(table["verdict"]) <= set(verdicts.VERDICTS)
    assert (table["checks"] >= 3).all()
    assert table.loc["Table 1: the headline", "verdict"] == "not reproduced"
    assert table.loc["The protocol", "verdict"] == "cannot be tested here"


def test_a_failing_check_stops_the_table_naming_the_claim_and_the_check():
    def broken(results):
        return verdicts.Finding("measured", "reproduced", "why", {"two equals three": 2 == 3})

    claim = verdicts.Claim("a broken row", "nowhere", "quote", broken, "no notebook")
    with pytest.raises(verdicts.VerdictError, match="a broken row: .*two equals three"):
        verdicts.verdict_table(claims=[claim])


def test_a_row_is_added_by_appending_one_claim(monkeypatch):
    def gated(results):
        frame = pd.read_csv(Path(results) / "06" / "table1_seeds.csv")
        return verdicts.Finding(f"{len(frame)} rows read", "cannot be tested here", "a test row", {"rows read": len(frame) > 0})

    extra = verdicts.Claim("a new row", "Conclusion", "quote", gated, "10 §1")
    monkeypatch.setattr(verdicts, "CLAIMS", [*verdicts.CLAIMS, extra])
    table = verdicts.verdict_table()
    assert table.index[-1] == "a new row" and "| **a new row** |" in verdicts.render_markdown(table)


def test_an_unknown_verdict_is_refused():
    claim = dataclasses.replace(verdicts.CLAIMS[0], measure=lambda results: verdicts.Finding("m", "proven", "w", {}))
    with pytest.raises(verdicts.VerdictError, match="unknown verdict 'proven'"):
        verdicts.verdict_table(claims=[claim])


def test_docs_check_reports_a_stale_page_and_docs_rewrites_it(tmp_path, monkeypatch, capsys):
    from dpgdiff_lite import generated_docs
    from dpgdiff_lite.cli import main

    stale = tmp_path / "verdicts.md"
    stale.write_text("old\n")
    monkeypatch.setattr(generated_docs, "VERDICTS", stale)
    monkeypatch.setattr(generated_docs, "ROOT", tmp_path.parent)
    monkeypatch.setattr(generated_docs, "ARCHITECTURE", tmp_path / "architecture.png")
    monkeypatch.setattr(generated_docs, "FOLDERS", {})
    assert main(["docs", "--check"]) == 1
    assert "verdicts.md is out of step: run python -m dpgdiff_lite docs" in capsys.readouterr().out
    assert main(["docs"]) == 0
    assert stale.read_text() == verdicts.page() and (tmp_path / "architecture.png").exists()
    assert main(["docs", "--check"]) == 0


def test_the_kits_own_model_has_its_rows_apart_from_the_papers_claims():
    beyond = verdicts.verdict_table(claims=verdicts.BEYOND)
    assert not set(beyond.index) & {c.name for c in verdicts.CLAIMS}
    page = PAGE.read_text()
    assert page.index("## Beyond the paper") > page.index("| **The protocol** |")
    assert "dpgdiff-anchored" in page.split("## Beyond the paper")[1]
    assert "Food-Kitchen has not been run with this model yet" in beyond.loc[beyond.index[0], "why"]


def _anchored_results(tmp_path, flat_p: float, grid_gain: float) -> Path:
    """A results folder with every world of anchored/ above the better SASRec (p = 0.001) but held-out-flat
    (gain +0.4 at ``flat_p``), and a grid whose conflicted cells gain ``grid_gain`` (p = 0.01)."""
    weights = {"teaching": (0.1, 0.7, 0.2), "conflict": (0.6, 0.1, 0.3)}
    for world in verdicts.ANCHORED_WORLDS:
        p = flat_p if world == "held-out-flat" else 0.001
        folder = tmp_path / "anchored" / world
        folder.mkdir(parents=True)
        w = weights.get(world, (0.2, 0.5, 0.3))
        pd.DataFrame({"domain": ["X", "Y"], "best_sasrec": "sasrec", "gain_over_sasrec": 0.4, "gain_p": p,
                      "gain_verdict": "positive" if p < 0.05 else "none", "n_seeds": 3,
                      **{column: value for column, value in zip(verdicts.WEIGHTS, w)}}).to_csv(folder / "evidence.csv")
    cells = [(c, n, d) for c in (0.0, 0.5, 1.0) for n in (0.0, 0.1, 0.3) for d in "XY"]
    gains = [0.5 if c == 0 else grid_gain for c, _, _ in cells]
    (tmp_path / "anchored" / "regimes").mkdir()
    pd.DataFrame({"conflict_rate": [c for c, _, _ in cells], "adhoc_noise": [n for _, n, _ in cells],
                  "domain": [d for _, _, d in cells], "anchored_gain": gains, "anchored_gain_p": 0.01,
                  "anchored_gain_vs": "sasrec-single",
                  "anchored_gain_verdict": ["positive" if g > 0 else "negative" for g in gains]}
                 ).to_csv(tmp_path / "anchored" / "regimes" / "summary.csv")
    return tmp_path


def test_the_anchored_goal_names_each_part_that_fails(tmp_path):
    met = verdicts.beyond_anchored(_anchored_results(tmp_path / "met", 0.01, 0.2))
    assert met.verdict == "reproduced" and "It holds in full." in met.why and all(met.checks.values())
    part = verdicts.beyond_anchored(_anchored_results(tmp_path / "part", 0.2, 0.2))
    assert part.verdict == "partly reproduced"
    assert "It holds in part: significantly above it (p < 0.05) where the domains agree fails at held-out-flat X (+0.40, p = 0.20)" in part.why
    rows = verdicts.anchored_goal(_anchored_results(tmp_path / "below", 0.01, -0.5))
    assert len(rows) == 2 * len(verdicts.ANCHORED_WORLDS) + 18
    conflicted = rows[rows["kind"] == "regime grid"].query("not agree")
    assert len(conflicted) == 12 and not conflicted["not_below"].any() and not conflicted["within"].any()
    assert rows.query("agree")["met"].all()


def test_the_title_sentences_come_from_one_function_in_the_readme_notebook_02_and_the_table():
    """The title's verdict is said once, by ``title_sentences``: the README quotes it, notebook 02 prints it, the
    verdict table's row contains it."""
    import json

    sentences = verdicts.title_sentences()
    assert set(sentences) == {"mitigates", "beyond", "fused"}
    root = PAGE.parents[1]
    readme = " ".join((root / "README.md").read_text().split())
    notebook = json.loads((root / "notebooks" / "02_negative_transfer.ipynb").read_text())
    printed = " ".join(" ".join("".join(output.get("text", "")) for cell in notebook["cells"]
                                for output in cell.get("outputs", [])).split())
    row = verdicts.verdict_table().loc["The title: beyond negative transfer", "the kit measured"]
    for name, sentence in sentences.items():
        assert sentence in readme, f"the README does not say the title's {name!r} sentence: {sentence}"
        assert sentence in printed, f"notebook 02 does not print the title's {name!r} sentence"
        assert sentence in row
    assert "fused ĝ_d of eq. (15)" not in readme

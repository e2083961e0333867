"""The reproduction report: claims parsed from findings, saved per figure, and the generated table."""

import json

import pytest

from gp_core.report import FIGURES, claims_from_findings, load_results, report_markdown, save_findings

FINDINGS = """- 0-GP ends closer than No GP, by sliced W1 (mean 1.138 against 1.914): **holds in every seed** (3 of 3).
- 0-GP finds all 8 modes (panel (e) at 10,000): **does not hold in any seed** (0 of 3). The best panel covers 1 of 8.
- 0-GP beats 1-GP (0.10 ± 0.01 against 0.87 ± 0.15): **holds in 2 of 3 seeds**.
- Runs that diverged: 0 of 12."""


def test_claims_parse_every_verdict_form():
    claims = claims_from_findings(2, FINDINGS)
    assert [(c.holds, c.seeds, c.verdict) for c in claims] == [(3, 3, "reproduced"), (0, 3, "not reproduced"), (2, 3, "partly")]


def test_claims_split_sentence_and_numbers():
    first, second, third = claims_from_findings(2, FINDINGS)
    assert first.claim == "0-GP ends closer than No GP, by sliced W1"
    assert first.ours == "mean 1.138 against 1.914"
    assert second.claim == "0-GP finds all 8 modes"
    assert second.ours == "panel (e) at 10,000"
    assert third.ours == "0.10 ± 0.01 against 0.87 ± 0.15"


def test_claims_split_numbers_after_colon():
    line = "- 0-GP brings D closer to D*: mean abs(D − D*) 0.167 against 0.204 on average: **holds in every seed** (3 of 3)."
    (claim,) = claims_from_findings(1, line)
    assert claim.claim == "0-GP brings D closer to D*"
    assert claim.ours == "mean abs(D − D*) 0.167 against 0.204 on average"


def test_claims_skip_lines_without_seed_count():
    assert claims_from_findings(2, "- Runs that diverged: 0 of 12.\n- The floor is 0.159.") == []


def test_save_without_folder_writes_nothing(monkeypatch, tmp_path):
    monkeypatch.delenv("GP_CORE_RESULTS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert save_findings(2, "quick", FINDINGS) is None
    assert list(tmp_path.iterdir()) == []


def test_save_uses_environment_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("GP_CORE_RESULTS_DIR", str(tmp_path))
    path = save_findings(2, "quick", FINDINGS)
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert path == tmp_path / "figure2.json"
    assert payload["scale"] == "quick"
    assert len(payload["claims"]) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["figure2.json"]


def test_second_save_of_same_scale_appends(tmp_path):
    save_findings(3, "quick", FINDINGS, tmp_path)
    save_findings(3, "quick", "- Stacked: 0-GP covers more modes (5 against 3): **holds in every seed** (3 of 3).", tmp_path)
    assert len(load_results(tmp_path)[3]["claims"]) == 4


def test_save_of_other_scale_replaces(tmp_path):
    save_findings(3, "smoke", FINDINGS, tmp_path)
    save_findings(3, "quick", FINDINGS.splitlines()[0], tmp_path)
    saved = load_results(tmp_path)[3]
    assert saved["scale"] == "quick"
    assert len(saved["claims"]) == 1


def test_save_rejects_unknown_figure(tmp_path):
    with pytest.raises(ValueError, match="unknown figure 11"):
        save_findings(11, "quick", FINDINGS, tmp_path)


def test_unreadable_result_file_is_skipped(tmp_path):
    (tmp_path / "figure2.json").write_text("{not json", encoding="utf-8")
    assert load_results(tmp_path) == {}


def test_report_lists_claims_and_missing_figures(tmp_path):
    save_findings(2, "quick", FINDINGS, tmp_path)
    save_findings(1, "smoke", FINDINGS, tmp_path)
    report = report_markdown(tmp_path, "quick")
    rows = [line for line in report.splitlines() if line.startswith("| ") and not line.startswith("| figure")]
    assert len(rows) == 3 + (len(FIGURES) - 1)
    assert "| 2 | 0-GP ends closer than No GP, by sliced W1 |" in report
    assert "| mean 1.138 against 1.914; holds in 3 of 3 seeds | **reproduced** |" in report
    assert report.count("not run at this scale |") == len(FIGURES) - 1
    assert "1 reproduced, 1 partly, 1 not reproduced, 9 figures not run at this scale" in report


def test_report_escapes_table_pipes(tmp_path):
    save_findings(1, "quick", "- mean |D − D*| falls (0.1 against 0.2): **holds in every seed** (2 of 2).", tmp_path)
    assert "mean \\|D − D*\\| falls" in report_markdown(tmp_path, "quick")

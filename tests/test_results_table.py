"""saic-results: the demo's table from a batch-1 and a batch-50 benchmark run, and its targets."""
import json

from conftest import run_script
from saic_fairseq.studies.results_table import TARGETS_FLICKR8K, baseline_rows, results_rows, target_rows


def row(mode, cider, x_b5, x_b1, overhead, captions_per_s=None):
    return {"mode": mode, "BLEU-4": 20.0, "METEOR": 19.0, "ROUGE-L": 45.0, "CIDEr": cider, "ms mean": 10.0,
            "x vs AIC b5": x_b5, "spread b5": "1.00-1.00", "x vs AIC b1": x_b1, "spread b1": "1.00-1.00",
            "calls": 5.0, "overhead": overhead, "captions/s": captions_per_s}


LATENCY = {"title": "batch 1", "rows": [
    row("AIC b5", 80.0, 1.0, 0.6, 1.1), row("AIC b1", 75.0, 1.7, 1.0, 1.1), row("SAIC 5/5", 77.0, 2.0, 1.2, 1.3),
    row("SAIC 1/1", 77.5, 3.6, 2.2, 1.15), row("IR-NAIC I=3", 70.0, 4.0, 2.4, 1.2),
    row("IR-NAIC I=5", 74.6, 3.0, 1.8, 1.2)]}
THROUGHPUT = {"title": "batch 50", "rows": [
    {"mode": "AIC b5", "captions/s": 100.0, "x vs AIC b1": 0.9, "x vs AIC b5": 1.0},
    {"mode": "SAIC 5/5", "captions/s": 99.0, "x vs AIC b1": 0.9, "x vs AIC b5": 0.99},
    {"mode": "SAIC 1/1", "captions/s": 400.0, "x vs AIC b1": 3.6, "x vs AIC b5": 4.0}]}


def test_targets_compare_modes_of_the_same_runs():
    met = {r["target"]: (r["measured"], r["met"]) for r in target_rows(LATENCY, THROUGHPUT)}
    assert met == {
        "SAIC 1/1 CIDEr - AIC b5 CIDEr >= -3": (-2.5, "yes"),
        "SAIC 5/5 CIDEr - AIC b5 CIDEr >= -2": (-3.0, "no"),
        "SAIC 1/1 CIDEr - best IR-NAIC CIDEr >= 3": (2.9, "no"),  # against I=5, the stronger
        "SAIC 1/1 speed-up over AIC b5, batch 1 >= 3.5": (3.6, "yes"),
        "SAIC 1/1 speed-up over AIC b1, batch 1 >= 2.5": (2.2, "no"),
        "largest overhead of any mode, batch 1 <= 1.2": (1.3, "no"),
        "SAIC 1/1 captions/s over AIC b1, batch 50 >= 1.5": (3.6, "yes"),
        "SAIC 5/5 captions/s over AIC b5, batch 50 >= 1": (0.99, "no"),
    }
    without_throughput = {r["target"]: r["met"] for r in target_rows(LATENCY)}
    assert without_throughput["SAIC 1/1 captions/s over AIC b1, batch 50 >= 1.5"] == "not measured"
    assert without_throughput["SAIC 1/1 CIDEr - AIC b5 CIDEr >= -3"] == "yes"


def test_results_rows_join_the_two_runs_by_mode():
    rows = {r["mode"]: r for r in results_rows(LATENCY, THROUGHPUT)}
    assert list(rows) == [r["mode"] for r in LATENCY["rows"]]
    assert rows["SAIC 1/1"]["x AIC b5 (spread)"] == "3.60 (1.00-1.00)"
    assert rows["SAIC 1/1"]["captions/s, batch 50"] == 400.0 and rows["AIC b1"]["captions/s, batch 50"] is None


def test_saic_results_writes_the_markdown_and_names_a_bad_file(tmp_path):
    (tmp_path / "b1.json").write_text(json.dumps(LATENCY))
    (tmp_path / "b50.json").write_text(json.dumps(THROUGHPUT))
    result = run_script("saic_fairseq.cli.results", "--latency", tmp_path / "b1.json", "--throughput",
                        tmp_path / "b50.json", "--out", tmp_path / "results.md")
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "results.md").read_text()
    assert written == result.stdout
    assert "| SAIC 1/1 CIDEr - AIC b5 CIDEr >= -3 | -2.50 | yes |" in " ".join(written.split())
    (tmp_path / "bad.json").write_text("[1, 2]")
    bad = run_script("saic_fairseq.cli.results", "--latency", tmp_path / "bad.json")
    expected = f"error: {tmp_path / 'bad.json'}: not a saic-benchmark --json file (no \"rows\" list)"
    assert bad.returncode == 2 and bad.stderr.strip() == expected


def test_flickr8k_targets_count_the_fairly_trained_ir_naic_and_only_up_to_five_passes():
    fair = baseline_rows({"rows": [row("IR-NAIC I=5", 75.0, None, None, None),
                                   row("IR-NAIC I=10", 79.0, None, None, None)]})
    assert [r["mode"] for r in fair] == ["IR-NAIC I=5 (CMLM-trained)", "IR-NAIC I=10 (CMLM-trained)"]
    met = {r["target"]: (r["measured"], r["met"]) for r in target_rows(LATENCY, THROUGHPUT, TARGETS_FLICKR8K, fair)}
    assert met == {
        "AIC b5 BLEU-4 >= 21.3": (20.0, "no"),
        "AIC b5 METEOR >= 20.3": (19.0, "no"),
        "SAIC 1/1 CIDEr - AIC b5 CIDEr >= -2": (-2.5, "no"),
        "SAIC 5/5 CIDEr - AIC b5 CIDEr >= -1": (-3.0, "no"),
        # against the fair I=5 (75.0), not I=10, which makes more than 5 passes
        "SAIC 1/1 CIDEr - best IR-NAIC (I <= 5, either model) CIDEr >= 3": (2.5, "no"),
        "SAIC 1/1 speed-up over AIC b5, batch 1 >= 3.5": (3.6, "yes"),
    }


def test_saic_results_prints_the_baseline_and_the_published_figures(tmp_path):
    (tmp_path / "b1.json").write_text(json.dumps(LATENCY))
    (tmp_path / "fair.json").write_text(json.dumps({"rows": [row("IR-NAIC I=5", 75.0, None, None, None)]}))
    result = run_script("saic_fairseq.cli.results", "--latency", tmp_path / "b1.json", "--baseline",
                        tmp_path / "fair.json", "--targets", "flickr8k")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "| IR-NAIC I=5 (CMLM-trained) | 20.00 | 19.00 | 45.00 | 75.00 | - |" in text
    assert "| Show, Attend and Tell, hard (published) | 21.30 | 20.30 | - |" in text
    assert "| SAIC 1/1 CIDEr - best IR-NAIC (I <= 5, either model) CIDEr >= 3 | 2.50 | no |" in text

"""The paper's studies: masking methods, mask-predict from a partly masked caption, the
tables' assembly, Fig. 4 examples, and examples/studies/run.sh end to end on tiny models,
interrupted and run again."""
import json
import os
import re
import signal
import subprocess
import time
import zipfile

import numpy as np
import pytest
import torch

from conftest import BIN, REPO, clean_env, first_batch, run_script, trained_task_and_model
from saic_fairseq.studies.caption_masking import mask_positions, masked_count


def test_masked_counts_and_positions():
    assert masked_count(10, 0.05) == 1 and masked_count(10, 0.7) == 7 and masked_count(3, 0.9) == 2
    assert mask_positions("head", 10, 0.3).tolist() == [True] * 3 + [False] * 7
    assert mask_positions("tail", 10, 0.3).tolist() == [False] * 7 + [True] * 3
    random = [mask_positions("random", 10, 0.5, np.random.default_rng(s)) for s in range(4)]
    assert all(r.sum() == 5 for r in random) and len({tuple(r) for r in random}) > 1
    with pytest.raises(ValueError, match="unknown masking method 'middle'"):
        mask_positions("middle", 10, 0.5)


def test_group_masking_at_one_minus_one_over_k_is_saics_groups():
    for k in (2, 3, 4):
        for n in (k * 3, k * 5):
            kept = ~mask_positions("group", n, 1 - 1 / k)
            assert np.flatnonzero(kept).tolist() == list(range(0, n, k)), (k, n)
    kept = ~mask_positions("group", 10, 0.7)  # 7 masked: 3 groups of 3-4 words, first word kept
    assert np.flatnonzero(kept).tolist() == [0, 3, 6]


def test_mask_predict_fills_only_the_masks(proxy_data, trained_state):
    from argparse import Namespace

    from saic_fairseq.generators import build_caption_generator

    task, model = trained_task_and_model(proxy_data, trained_state, group_size=3)
    sample = first_batch(task, "test", batch_size=4)
    generator = build_caption_generator(task, [model], Namespace(beam=1), "ir-naic", iterations=3)
    encoder_out = model.encoder.forward_torchscript(sample["net_input"])
    words = torch.full((4, 6), 10)
    hidden = torch.from_numpy(np.stack([mask_positions("group", 6, 0.5)] * 4))
    tokens, scores = generator.mask_predict(encoder_out, words.masked_fill(hidden, generator.layout.mask), hidden, 3)
    assert torch.equal(tokens[~hidden], words[~hidden]) and (scores[~hidden] == 0).all()
    assert not tokens.eq(generator.layout.mask).any() and (scores[hidden] < 0).all()


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def studies_env(distilled, checkpoints, runs):
    return {**clean_env(), "PATH": f"{BIN}:{os.environ['PATH']}", "DATA": distilled,
            "DEMO": os.path.dirname(os.path.dirname(checkpoints[0])), "RUNS": runs, "ARCH": "saic_tiny",
            "UPDATES": "12", "SAVE_EVERY": "4", "SCST_UPDATES": "4", "IMAGES": "20", "RATES": "0.3 0.7",
            "ROUNDS": "1", "ONLY": " ".join(STUDIED)}


#: the study models this test trains (the other six are the same command with other options)
STUDIED = ("saic", "raw")
SKIPPED = ("sequence-level", "k2", "k3", "no-finetune", "no-rpr", "no-curriculum")


def squeezed(path):
    """The file's text with every run of spaces as one (tabulate pads the table cells)."""
    return re.sub(r" +", " ", read(path))


def test_studies_resume_after_a_kill_and_report_only_finished_models(distilled, checkpoints, tmp_path):
    runs = str(tmp_path / "studies")
    env = studies_env(distilled, checkpoints, runs)
    script = ["bash", "examples/studies/run.sh"]
    first = subprocess.Popen(script, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    deadline = time.time() + 300
    # fairseq writes checkpoint_best.pt and then copies it to checkpoint_last.pt: kill once the copy
    # is whole (a zip's central directory comes last), not while it is being written
    while not zipfile.is_zipfile(f"{runs}/raw/checkpoint_last.pt") and time.time() < deadline and first.poll() is None:
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert os.path.exists(f"{runs}/saic/DONE") and not os.path.exists(f"{runs}/raw/DONE")
    tables = run_script("saic_fairseq.cli.study_tables", "--runs", runs, "--out", str(tmp_path / "partial"))
    assert tables.returncode == 0
    assert "| Raw (not trained yet) | - |" in squeezed(tmp_path / "partial.md")  # a half-trained model is never scored

    second = subprocess.run(script, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "Loaded checkpoint" in read(f"{runs}/raw/train.log")  # resumed, not restarted
    assert "train saic" in second.stdout and "saic (AIC b5" in second.stdout  # the stage headers still print
    assert second.stdout.count("fairseq_cli.train | done training") == 2  # raw resumed + SCST
    for name in (*STUDIED, "scst"):
        assert os.path.exists(f"{runs}/{name}/DONE"), name
    assert not any(os.path.exists(f"{runs}/{name}") for name in SKIPPED)  # ONLY: never started
    text = squeezed(f"{runs}/tables.md")
    assert "| Raw |" in text and "| -RPR (not trained yet) |" in text and "(not run yet)" not in text
    assert "| Seq. Dist. (not trained yet) | - |" in text and "| k=2 (not trained yet) | - |" in text
    for heading in ("Table 5", "Table 6", "Table 7", "SCST", "Fig. 4"):
        assert f"### {heading}" in text
    masking = json.load(open(f"{runs}/masking.json"))
    assert len(masking["fig2"]) == 4 * 2 and len(masking["table1"]) == 4
    assert [r["runs"] for r in masking["fig2"] if r["method"] == "random"] == [4, 4]
    for path in ("masking.md", "masking.png", "tables.png", "tables.json", "examples.json"):
        assert os.path.getsize(f"{runs}/{path}") > 0, path
    examples = json.load(open(f"{runs}/examples.json"))["examples"]
    assert len(examples) == 5 and {"AIC b5", "NAIC", "IR-NAIC I=5", "SAIC 1/1", "references"} <= set(examples[0])

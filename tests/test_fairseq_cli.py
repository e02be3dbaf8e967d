"""Through fairseq's own CLIs: fairseq-train (AIC teacher, then SAIC fine-tuned from it) and
fairseq-generate in every mode; checkpoints load with torch's weights_only kept on."""
import json
import os
import pickletools
import re
import subprocess
import sys
import zipfile

import pytest

from conftest import clean_env, common, fairseq_cli, logged_values

MODES = ["aic", "saic", "naic", "ir-naic"]


def test_saic_training_lowers_loss_and_logs_every_part(checkpoints):
    log = checkpoints[2]
    inner = [line for line in log.splitlines() if "train_inner" in line]
    losses = logged_values(log, "loss")
    assert len(losses) >= 6 and losses[-1] < losses[0]
    for key in ("aic_loss", "naic_loss", "outliner_loss", "filler_loss", "length_loss", "p_g"):
        assert f"{key}=" in inner[-1]
    valid = [line for line in log.splitlines() if "| valid on" in line or "valid on 'valid'" in line]
    assert valid and re.search(r"cider \d+\.\d+", valid[-1])  # --eval-cider
    p_g = logged_values(log, "p_g")
    assert p_g == sorted(p_g) and p_g[-1] > 0.7  # the curriculum rises with the updates


@pytest.mark.parametrize("mode", MODES)
def test_generate_every_mode_from_the_checkpoint(proxy_data, checkpoints, mode, tmp_path):
    # saic: with --unkpen inf, the captions saic-caption shows (which never contain <unk>)
    no_unk = ["--unkpen", "inf"] if mode == "saic" else []
    result = fairseq_cli("fairseq-generate", *common(proxy_data), "--path", checkpoints[1], "--gen-subset", "test",
                         "--decoding", mode, "--beam", "2", "--outline-beam", "2", "--fill-beam", "2",
                         "--batch-size", "16", "--unique-images", *no_unk, env=clean_env())
    hypotheses = [line for line in result.stdout.splitlines() if line.startswith("H-")]
    assert len(hypotheses) == 30  # one per test image
    assert all(len(line.split("\t")) == 3 for line in hypotheses)
    assert "BLEU4" in result.stdout + result.stderr
    if mode == "saic":  # the same output through saic-evaluate
        out = tmp_path / "gen.txt"
        out.write_text(result.stdout)
        scores = tmp_path / "scores.json"
        evaluated = fairseq_cli("saic-evaluate", "--refs", f"{proxy_data}/test.refs.json", "--captions", out,
                                "--json", scores)
        report = json.loads(scores.read_text())
        assert report["images"] == 30 and set(report["scores"]) >= {"BLEU-4", "METEOR", "ROUGE-L", "CIDEr"}
        assert "CIDEr" in evaluated.stdout.splitlines()[0]
        # saic-caption --split: the same captions as a COCO result file, no log parsing
        results = tmp_path / "results.json"
        fairseq_cli("saic-caption", "--path", checkpoints[1], "--split", "test", "--outline-beam", "2",
                    "--fill-beam", "2", "--batch-size", "16", "--format", "coco", "--output", results)
        coco = {str(r["image_id"]): r["caption"] for r in json.loads(results.read_text())}
        assert coco == {i: row["caption"] for i, row in report["per_image"].items()}
        assert not any("<unk>" in caption for caption in coco.values())


def pickle_globals(checkpoint):
    """Every (module, name) a checkpoint's pickle asks to import."""
    with zipfile.ZipFile(checkpoint) as archive:
        data = archive.read(next(n for n in archive.namelist() if n.endswith("data.pkl")))
    found, strings = set(), []
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL":
            found.add(tuple(strings[-2:]))
        elif op.name == "GLOBAL":
            found.add(tuple(arg.split(" ", 1)))
    return found


def test_checkpoints_hold_only_allow_listed_types(checkpoints):
    from saic_fairseq.checkpoint_safety import FAIRSEQ_CHECKPOINT_TYPES

    ours = {(t.__module__, t.__qualname__) for t in FAIRSEQ_CHECKPOINT_TYPES}
    for checkpoint in checkpoints[:2]:
        extra = {g for g in pickle_globals(checkpoint) if not g[0].startswith(("torch", "collections"))}
        assert extra == ours


def load_in_fresh_python(checkpoint, import_plugin):
    code = ("import sys, torch\n"
            + ("import saic_fairseq\n" if import_plugin else "")
            + "torch.load(sys.argv[1], weights_only=True)\nprint('loaded')\n")
    return subprocess.run([sys.executable, "-c", code, checkpoint], capture_output=True, text=True, env=clean_env())


def test_weights_only_loading_needs_and_gets_the_allow_list(checkpoints):
    without = load_in_fresh_python(checkpoints[1], import_plugin=False)
    assert without.returncode != 0 and "argparse.Namespace" in without.stderr
    with_plugin = load_in_fresh_python(checkpoints[1], import_plugin=True)
    assert with_plugin.returncode == 0 and "loaded" in with_plugin.stdout


class RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_with_unexpected_object_is_refused_not_run(proxy_data, tmp_path):
    import torch

    marker = tmp_path / "was_executed"
    crafted = tmp_path / "crafted.pt"
    torch.save({"model": {}, "args": None, "payload": RunsACommand(marker)}, crafted)
    result = fairseq_cli("fairseq-generate", *common(proxy_data), "--path", crafted, "--gen-subset", "test",
                         check=False, env=clean_env())
    assert result.returncode != 0
    assert "Weights only load failed" in result.stderr and "system" in result.stderr
    assert not marker.exists()

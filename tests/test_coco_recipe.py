"""examples/coco/run.sh, the paper's recipe, end to end on tiny real-format inputs: a
Karpathy dataset_coco.json of real COCO captions and a bottom-up-attention TSV."""
import base64
import json
import os
import subprocess

import numpy as np

from conftest import BIN, REPO, clean_env
from saic_fairseq.data.coco_captions import karpathy_tokenize


def b64(array):
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.float32).tobytes()).decode()


def test_coco_recipe_on_tiny_inputs(karpathy_split, tmp_path):
    rng = np.random.default_rng(0)
    entries, lines = [], []
    for split, count in (("train", 40), ("restval", 8), ("val", 6), ("test", 6)):
        source = karpathy_split["train" if split in ("train", "restval") else {"val": "valid"}.get(split, split)]
        for image in source[:count] if split != "restval" else source[40:48]:
            entries.append({"cocoid": image.image_id, "split": split, "sentences": [
                {"raw": raw, "tokens": karpathy_tokenize(raw)} for raw in image.captions]})
            regions = int(rng.integers(3, 7))
            boxes = np.sort(rng.uniform(0, 500, (regions, 4)), axis=1)
            lines.append("\t".join(map(str, [image.image_id, 640, 480, regions, b64(boxes),
                                              b64(rng.standard_normal((regions, 24)))])))
    (tmp_path / "dataset_coco.json").write_text(json.dumps({"images": entries}))
    (tmp_path / "features.tsv").write_text("\n".join(lines) + "\n")
    env = clean_env()
    env.update(PATH=f"{BIN}:{env['PATH']}", KARPATHY_JSON=str(tmp_path / "dataset_coco.json"),
               FEATURES_TSV=str(tmp_path / "features.tsv"), DATA=str(tmp_path / "data"), RUNS=str(tmp_path / "runs"),
               ARCH="saic_tiny", TEACHER_EPOCHS="2", SAIC_EPOCHS="2", MAX_TOKENS="600", THRESHOLD="1",
               BENCH_IMAGES="3", BENCH_DEVICE="cpu")
    result = subprocess.run(["bash", "examples/coco/run.sh"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = tmp_path / "runs"
    assert len(open(tmp_path / "data/train.ids").read().split()) == sum(
        len(e["sentences"]) for e in entries if e["split"] in ("train", "restval"))
    assert os.path.exists(tmp_path / "data/train.distill.bin")
    scores = json.loads((runs / "scores-test.json").read_text())
    assert scores["images"] == 6 and "CIDEr" in scores["scores"]
    table = json.loads((runs / "table2.json").read_text())
    assert [r["mode"] for r in table["rows"]][:2] == ["AIC b5", "AIC b1"] and len(table["rows"]) == 8
    assert "| cider " in result.stdout + result.stderr  # checkpoint selection by valid CIDEr-D

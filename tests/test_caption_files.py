"""Caption preprocessing: Karpathy JSON, COCO JSON + id lists, the full split, bad input."""
import json
import os

import pytest

from conftest import run_script
from saic_fairseq.data.coco_captions import karpathy_tokenize, read_karpathy_json
from saic_fairseq.errors import SAICInputError


def karpathy_json(path, images):
    entries = []
    for image_id, split, raws in images:
        entries.append({"cocoid": image_id, "split": split, "filename": f"{image_id}.jpg",
                        "sentences": [{"raw": r, "tokens": karpathy_tokenize(r)} for r in raws]})
    path.write_text(json.dumps({"images": entries, "dataset": "coco"}))
    return path


def coco_json(path, captions):
    anns = [{"id": n, "image_id": i, "caption": c} for n, (i, c) in enumerate(captions)]
    path.write_text(json.dumps({"images": [{"id": i} for i in sorted({i for i, _ in captions})], "annotations": anns}))
    return path


def test_tokenize_like_karpathy():
    assert karpathy_tokenize("A man's bike, leaning  on a WALL.") == ["a", "mans", "bike", "leaning", "on", "a", "wall"]


def test_karpathy_json_split_files(tmp_path):
    src = karpathy_json(tmp_path / "dataset_coco.json", [
        (1, "train", ["A dog runs.", "a dog running"]), (2, "restval", ["Two cats."]),
        (3, "val", ["A red bus."]), (4, "test", ["A plane in the sky.", "an airplane"]),
    ])
    out = tmp_path / "out"
    result = run_script("preprocess.coco_captions", "--karpathy-json", src, "--out", out)
    assert result.returncode == 0, result.stderr
    assert (out / "train.txt").read_text().splitlines() == ["a dog runs", "a dog running", "two cats"]
    assert (out / "train.ids").read_text().split() == ["1", "1", "2"]
    assert (out / "valid.ids").read_text().split() == ["3"]
    assert json.loads((out / "test.refs.json").read_text()) == {"4": ["A plane in the sky.", "an airplane"]}


def test_coco_json_with_id_lists(tmp_path):
    src = coco_json(tmp_path / "captions.json", [(10, "A cat."), (11, "A dog."), (10, "The cat sleeps."), (12, "x y")])
    (tmp_path / "train.txt").write_text("10\n12\n")
    (tmp_path / "test.txt").write_text("# the test images\n11\n")
    out = tmp_path / "out"
    result = run_script("preprocess.coco_captions", "--coco-json", src, "--split-ids",
                        f"train={tmp_path / 'train.txt'}", f"test={tmp_path / 'test.txt'}", "--out", out)
    assert result.returncode == 0, result.stderr
    assert (out / "train.txt").read_text().splitlines() == ["a cat", "the cat sleeps", "x y"]
    assert (out / "train.ids").read_text().split() == ["10", "10", "12"]
    assert json.loads((out / "test.refs.json").read_text()) == {"11": ["A dog."]}


@pytest.mark.parametrize("case, expected", [
    ("malformed", "line 1 column"),
    ("empty_caption", "image id 5"),
    ("unknown_image", "image id 99"),
    ("bad_id_line", "line 2"),
])
def test_bad_caption_input_names_the_place_and_writes_nothing(tmp_path, case, expected):
    out = tmp_path / "out"
    ids = tmp_path / "ids.txt"
    ids.write_text("5\n")
    src = coco_json(tmp_path / "c.json", [(5, "A cat.")])
    if case == "malformed":
        src.write_text('{"annotations": [')
    elif case == "empty_caption":
        coco_json(src, [(5, "A cat."), (5, "  ... ")])
    elif case == "unknown_image":
        ids.write_text("5\n99\n")
    elif case == "bad_id_line":
        ids.write_text("5\nfive\n")
    result = run_script("preprocess.coco_captions", "--coco-json", src, "--split-ids", f"train={ids}", "--out", out)
    assert result.returncode == 2
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: ") and expected in message
    assert str(src) in message or str(ids) in message
    assert not out.exists() or not os.listdir(out)


def test_karpathy_json_unknown_split_is_refused(tmp_path):
    src = karpathy_json(tmp_path / "d.json", [(7, "holdout", ["A cat."])])
    with pytest.raises(SAICInputError, match="image id 7.*unknown split 'holdout'"):
        read_karpathy_json(src)


def test_full_karpathy_style_split_from_packages(karpathy_split):
    sizes = {name: len(images) for name, images in karpathy_split.items()}
    assert sizes == {"train": 113287, "valid": 5000, "test": 5000}
    ids = [set(i.image_id for i in images) for images in karpathy_split.values()]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert 391895 in ids[0] | ids[1] | ids[2]
    captions = sum(len(i.captions) for images in karpathy_split.values() for i in images)
    assert 610000 < captions < 620000

"""Your own images + captions file -> features, splits, binarization, training, and
saic-caption / SAICCaptioner on raw photos and on feature files; their bad inputs."""
import csv
import json
import os

import pytest

from conftest import binarize, clean_env, fairseq_cli, train_args
from saic_fairseq.errors import SAICInputError

PHOTOS = {
    "chelsea.png": ["a cat sitting on a wooden floor", "an orange cat looking to the side"],
    "coffee.png": ["a cup of coffee on a saucer", "a white cup of coffee on a table"],
    "astronaut.png": ["a woman in a space suit", "an astronaut posing in front of a flag"],
    "rocket.png": ["a rocket on a launch pad", "a space rocket ready for launch"],
    "camera.png": ["a man holding a camera on a tripod", "a photographer in a field"],
    "coins.png": ["old coins on a table", "a collection of coins"],
    "page.png": ["a page of printed text", "a scanned page of a book"],
    "text.png": ["letters written on a wall", "text painted on a surface"],
}


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    import skimage.data
    from PIL import Image

    folder = tmp_path_factory.mktemp("photos")
    for name in PHOTOS:
        Image.fromarray(getattr(skimage.data, name[:-4])()).save(folder / name)
    with open(folder / "captions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "caption"])
        writer.writerows([name, caption] for name, captions in PHOTOS.items() for caption in captions)
    return folder


@pytest.fixture(scope="module")
def own_model(photo_folder, tmp_path_factory):
    data = tmp_path_factory.mktemp("own") / "data"
    fairseq_cli("python", "-m", "preprocess.own_data", "--images", photo_folder, "--captions",
                photo_folder / "captions.csv", "--out", data, "--valid-fraction", "0.15", "--test-fraction", "0.15")
    binarize(data)
    save = str(data.parent / "ckpt")
    fairseq_cli("fairseq-train", *train_args(str(data), save, "saic_loss", 6, "--p-hybr", "1",
                                             "--batch-size", "4", "--max-tokens", "1000"), env=clean_env())
    return data, f"{save}/checkpoint_best.pt"


def test_own_data_splits_and_features(own_model):
    data, _ = own_model
    from saic_fairseq.features.feature_store import FeatureStore

    mapping = dict(line.split("\t") for line in (data / "images.tsv").read_text().splitlines())
    assert sorted(mapping) == sorted(PHOTOS) and sorted(map(int, mapping.values())) == list(range(1, 9))
    ids = {split: set((data / f"{split}.ids").read_text().split()) for split in ("train", "valid", "test")}
    assert sum(map(len, ids.values())) == 8 and all(ids.values())
    store = FeatureStore(data / "features.h5")
    assert store.dim == 1280 and store.features(1).shape == (81, 1280)  # EfficientNet-Lite2's 9 x 9 grid
    refs = json.loads((data / "test.refs.json").read_text())
    name_of = {v: k for k, v in mapping.items()}
    assert all(refs[i] == PHOTOS[name_of[i]] for i in refs)


def test_saic_caption_on_photos_and_on_features(own_model, photo_folder):
    data, checkpoint = own_model
    photos = [photo_folder / "chelsea.png", photo_folder / "rocket.png"]
    result = fairseq_cli("saic-caption", "--path", checkpoint, *photos, "--decoding", "saic")
    lines = result.stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(p) for p in photos]
    assert all(len(line.split("\t")) == 2 for line in lines)
    result = fairseq_cli("saic-caption", "--path", checkpoint, "--features", data / "features.h5",
                         "--image-ids", "2", "5", "--decoding", "ir-naic")
    assert [line.split("\t")[0] for line in result.stdout.strip().splitlines()] == ["2", "5"]


def test_hub_api_gives_the_same_captions_as_the_command(own_model, photo_folder):
    data, checkpoint = own_model
    from saic_fairseq.hub import SAICCaptioner

    captioner = SAICCaptioner.from_pretrained(checkpoint)
    ours = captioner.caption([str(photo_folder / "coffee.png")], decoding="aic", beam=2)
    cli = fairseq_cli("saic-caption", "--path", checkpoint, photo_folder / "coffee.png", "--decoding", "aic",
                      "--beam", "2")
    assert cli.stdout.strip().split("\t")[1] == ours[0]
    # one generator per set of options, built on first use and reused: modes interleaved give the same captions
    photos = [str(photo_folder / "coffee.png"), str(photo_folder / "rocket.png")]
    first = [captioner.caption(photos, decoding="saic", outline_beam=b, fill_beam=1) for b in (1, 3)]
    assert captioner.caption(photos[:1], decoding="aic", beam=2) == ours
    assert [captioner.caption(photos, decoding="saic", outline_beam=b, fill_beam=1) for b in (1, 3)] == first
    assert len(captioner._generators) == 3


def test_photo_with_a_model_of_other_features(checkpoints, photo_folder):
    result = fairseq_cli("saic-caption", "--path", checkpoints[1], photo_folder / "chelsea.png", check=False)
    assert result.returncode == 2
    assert "reads features of width 16 that no image backbone made" in result.stderr


def test_the_model_captions_through_its_own_backbone_and_refuses_another(own_model, photo_folder, tmp_path):
    data, checkpoint = own_model
    from saic_fairseq.hub import SAICCaptioner

    captioner = SAICCaptioner.from_pretrained(checkpoint)
    assert captioner.backbone.name == "efficientnet-lite2" and captioner.backbone.image_size == 260
    same = fairseq_cli("saic-caption", "--path", checkpoint, photo_folder / "coffee.png", "--backbone",
                       "efficientnet-lite2")
    assert same.stdout.split("\t")[1].strip() == captioner.caption([str(photo_folder / "coffee.png")])[0]
    other = fairseq_cli("saic-caption", "--path", checkpoint, photo_folder / "coffee.png", "--backbone",
                        "efficientnet-lite0", check=False)
    assert other.returncode == 2
    assert "trained on efficientnet-lite2 features, not efficientnet-lite0" in other.stderr
    lite0 = tmp_path / "lite0.h5"
    fairseq_cli("python", "-m", "preprocess.extract_grid_features", photo_folder, "--assign-ids", "--out", lite0,
                "--backbone", "efficientnet-lite0")
    refused = fairseq_cli("saic-caption", "--path", checkpoint, "--features", lite0, check=False)
    assert refused.returncode == 2
    expected = f"{lite0}: features of efficientnet-lite0, but this model was trained on efficientnet-lite2"
    assert expected in refused.stderr


@pytest.mark.parametrize("case, expected", [
    ("corrupt", "not a readable checkpoint (corrupt or truncated)"),
    ("other_arch", "a checkpoint of architecture 'transformer_iwslt_de_en', not of saic_transformer"),
    ("missing", "checkpoint not found"),
])
def test_bad_checkpoints(case, expected, photo_folder, tmp_path):
    import torch

    path = tmp_path / "model.pt"
    if case == "corrupt":
        path.write_bytes(b"PK\x03\x04 definitely not a whole zip file")
    elif case == "other_arch":
        torch.save({"model": {}, "cfg": {"model": {"_name": "transformer_iwslt_de_en"}, "task": {}}}, path)
    result = fairseq_cli("saic-caption", "--path", path, photo_folder / "chelsea.png", check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"error: {path}: {expected}" or expected in result.stderr


def test_not_an_image(own_model, tmp_path):
    _, checkpoint = own_model
    fake = tmp_path / "fake.jpg"
    fake.write_text("hello")
    result = fairseq_cli("saic-caption", "--path", checkpoint, fake, check=False)
    assert result.returncode == 1 and f"warning: {fake}: not a readable image" in result.stderr
    assert result.stdout == "" and "1 of 1 files skipped" in result.stderr


@pytest.mark.parametrize("content, expected", [
    ("image,caption\nmissing.png,a cat\n", "line 2: image 'missing.png' is not in"),
    ("image,caption\nchelsea.png,   \n", "line 2: empty caption for 'chelsea.png'"),
    ("picture,text\nchelsea.png,a cat\n", "line 1: CSV header must name the columns image and caption"),
    (b"image,caption\nchelsea.png,a \xff cat\n", "not UTF-8 text"),
])
def test_bad_captions_file(photo_folder, tmp_path, content, expected):
    table = tmp_path / "captions.csv"
    table.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = fairseq_cli("python", "-m", "preprocess.own_data", "--images", photo_folder, "--captions", table,
                         "--out", tmp_path / "out", check=False)
    assert result.returncode == 2 and expected in result.stderr and str(table) in result.stderr
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_bad_json_lines(photo_folder, tmp_path):
    table = tmp_path / "captions.jsonl"
    table.write_text('{"image": "chelsea.png", "caption": "a cat"}\n{"image": "coffee.png", "caption": \n')
    result = fairseq_cli("python", "-m", "preprocess.own_data", "--images", photo_folder, "--captions", table,
                         "--out", tmp_path / "out", check=False)
    assert result.returncode == 2 and f"{table}, line 2: malformed JSON" in result.stderr


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory):
    """Good photos (RGB, RGBA, grayscale, one in a subfolder), a text file named .jpg, a
    non-image file, and a COCO annotation file naming the good photos."""
    import numpy as np
    import skimage.data
    from PIL import Image

    folder = tmp_path_factory.mktemp("mixed")
    (folder / "sub").mkdir()
    Image.fromarray(skimage.data.chelsea()).save(folder / "chelsea.png")
    rgba = np.dstack([skimage.data.coffee(), np.full(skimage.data.coffee().shape[:2], 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "coffee_rgba.png")
    Image.fromarray(skimage.data.camera()).save(folder / "camera_gray.png")  # mode L
    Image.fromarray(skimage.data.astronaut()).save(folder / "sub" / "astronaut.jpg")
    (folder / "broken.jpg").write_text("this is text, not a JPEG")
    (folder / "notes.txt").write_text("not an image, not picked up")
    names = {"astronaut.jpg": 11, "camera_gray.png": 12, "chelsea.png": 13, "coffee_rgba.png": 14}
    refs = {"astronaut.jpg": "a woman in a space suit", "camera_gray.png": "a man holding a camera",
            "chelsea.png": "a cat sitting on a floor", "coffee_rgba.png": "a cup of coffee on a saucer"}
    annotations = {"images": [{"id": i, "file_name": f"val/{n}"} for n, i in names.items()],
                   "annotations": [{"id": n, "image_id": names[f], "caption": refs[f]} for n, f in enumerate(refs)]}
    (folder / "captions_mine.json").write_text(json.dumps(annotations))
    return folder, names


def test_a_folder_with_a_bad_file_gives_every_real_caption_and_a_coco_file_saic_evaluate_scores(
        own_model, mixed_folder, tmp_path):
    _, checkpoint = own_model
    folder, names = mixed_folder
    result = fairseq_cli("saic-caption", "--path", checkpoint, folder, "--batch-size", "2", check=False)
    assert result.returncode == 1
    captioned = [line.split("\t")[0] for line in result.stdout.strip().splitlines()]
    assert sorted(map(os.path.basename, captioned)) == sorted(names)  # the .txt is not an image name
    assert all(len(line.split("\t")) == 2 and line.split("\t")[1] for line in result.stdout.strip().splitlines())
    assert f"warning: {folder / 'broken.jpg'}: not a readable image" in result.stderr
    assert "1 of 5 files skipped" in result.stderr

    out = tmp_path / "results.json"
    result = fairseq_cli("saic-caption", "--path", checkpoint, folder / "*.png", folder / "sub", folder / "broken.jpg",
                         "--format", "coco", "--output", out, "--annotations", folder / "captions_mine.json",
                         check=False)
    assert result.returncode == 1 and result.stdout == ""
    results = json.loads(out.read_text())
    assert sorted(r["image_id"] for r in results) == sorted(names.values())
    assert all(set(r) == {"image_id", "caption"} and isinstance(r["caption"], str) for r in results)

    scores = tmp_path / "scores.json"
    fairseq_cli("saic-evaluate", "--refs", folder / "captions_mine.json", "--captions", out, "--json", scores,
                "--no-spice")
    scored = json.loads(scores.read_text())
    assert scored["images"] == 4 and set(scored["per_image"]) == {str(i) for i in names.values()}
    by_id = {str(r["image_id"]): r["caption"] for r in results}
    assert all(scored["per_image"][i]["caption"] == by_id[i] for i in by_id)
    assert 0 <= scored["scores"]["CIDEr"] and "BLEU-4" in scored["per_image"]["11"]


def test_strict_stops_at_the_first_bad_file_and_leaves_no_output(own_model, mixed_folder, tmp_path):
    _, checkpoint = own_model
    folder, _ = mixed_folder
    out = tmp_path / "captions.jsonl"
    result = fairseq_cli("saic-caption", "--path", checkpoint, folder, "--strict", "--format", "jsonl",
                         "--output", out, check=False)
    assert result.returncode == 2 and f"error: {folder / 'broken.jpg'}: not a readable image" in result.stderr
    assert not out.exists() and not list(tmp_path.iterdir())


def test_nbest_from_the_command_and_the_hub(own_model, photo_folder):
    _, checkpoint = own_model
    from saic_fairseq.hub import SAICCaptioner

    photo = photo_folder / "rocket.png"
    result = fairseq_cli("saic-caption", "--path", checkpoint, photo, "--decoding", "aic", "--beam", "3",
                         "--nbest", "3", "--format", "jsonl")
    record, = [json.loads(line) for line in result.stdout.strip().splitlines()]
    scores = [c["score"] for c in record["nbest"]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    assert record["caption"] == record["nbest"][0]["caption"] and record["score"] == scores[0]
    ours, = SAICCaptioner.from_pretrained(checkpoint).caption([str(photo)], decoding="aic", beam=3, nbest=3)
    assert [c["caption"] for c in ours] == [c["caption"] for c in record["nbest"]]
    assert [round(c["score"], 6) for c in ours] == scores
    tsv = fairseq_cli("saic-caption", "--path", checkpoint, photo, "--decoding", "aic", "--beam", "3", "--nbest", "2")
    assert [line.split("\t")[2] for line in tsv.stdout.strip().splitlines()] == [c["caption"] for c in ours[:2]]
    result = fairseq_cli("saic-caption", "--path", checkpoint, photo, "--decoding", "ir-naic", "--nbest", "2",
                         check=False)
    assert result.returncode == 2
    assert "error: --nbest: 2 captions asked, but --decoding ir-naic keeps 1 per image" in result.stderr


def test_a_moved_model_loads_with_the_dictionary_it_carries(own_model, photo_folder, tmp_path):
    import torch

    from saic_fairseq.hub import SAICCaptioner

    _, checkpoint = own_model
    state = torch.load(checkpoint, weights_only=True)
    assert state["task_state"]["dictionary"].splitlines()[-2:] == ["<mask> 1", "<bog> 1"]
    state["cfg"]["task"]["data"] = str(tmp_path / "moved-away")  # the data folder is gone
    torch.save(state, tmp_path / "model.pt")
    photo = [str(photo_folder / "coffee.png")]
    moved = SAICCaptioner.from_pretrained(str(tmp_path / "model.pt"))
    assert moved.caption(photo, decoding="saic") == SAICCaptioner.from_pretrained(checkpoint).caption(photo)
    assert moved.to("cpu") is moved and moved.device == torch.device("cpu")
    with pytest.raises(SAICInputError, match="float16 decoding needs a GPU"):
        moved.half()


@pytest.mark.parametrize("command", ["saic-caption", "saic-evaluate", "saic-benchmark", "saic-masking-study",
                                     "saic-study-tables", "saic-results"])
def test_help_prints_the_help_and_nothing_else(command):
    result = fairseq_cli(command, "--help")
    assert result.stdout.startswith(f"usage: {command}") and result.stderr == ""

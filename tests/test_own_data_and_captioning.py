"""Your own images + captions file -> features, splits, binarization, training, and
saic-caption / SAICCaptioner on raw photos and on feature files; their bad inputs."""
import csv
import json

import pytest

from conftest import binarize, clean_env, fairseq_cli, train_args

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
    assert store.dim == 1280 and store.features(1).shape == (49, 1280)
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


def test_photo_with_a_model_of_other_features(checkpoints, photo_folder):
    result = fairseq_cli("saic-caption", "--path", checkpoints[1], photo_folder / "chelsea.png", check=False)
    assert result.returncode == 2
    assert "reads features of width 16, but images give 1280-wide" in result.stderr


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
    assert result.returncode == 2 and f"error: {fake}: not a readable image" in result.stderr


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

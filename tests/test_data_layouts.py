"""The captions layouts people download (Karpathy's JSON, Flickr8k.token.txt, Kaggle's
captions.txt, each with its split) -> the same split files, ids and references; their bad inputs."""
import csv
import json

import pytest

from conftest import run_script
from saic_fairseq.data.own_captions import read_own_data
from saic_fairseq.errors import SAICInputError

#: file name -> (split, captions); "9_b.jpg" is in no split list (Flickr8k has 91 such photos)
PHOTOS = {
    "3_c.jpg": ("train", ["A dog runs .", "a brown dog running"]),
    "1_a.jpg": ("train", ["Two kids play in the sand .", "children at a beach"]),
    "5_e.jpg": ("valid", ["A man rides a bike .", "a cyclist on a road"]),
    "2_b.jpg": ("test", ["A girl in a red dress .", "a girl smiling"]),
    "4_d.jpg": ("test", ["Birds on a wire .", "three birds sitting"]),
    "9_b.jpg": (None, ["a photo in no split", "not used"]),
}
LIST_NAMES = {"train": "Flickr_8k.trainImages.txt", "valid": "Flickr_8k.devImages.txt",
              "test": "Flickr_8k.testImages.txt"}
KARPATHY_SPLIT = {"train": "train", "valid": "val", "test": "test"}


def write_images(folder):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for number, name in enumerate(PHOTOS):
        Image.new("RGB", (40, 30), (40 * number, 100, 200)).save(folder / name)


def write_lists(folder):
    for split, list_name in LIST_NAMES.items():
        (folder / list_name).write_text("".join(f"{n}\n" for n, (s, _) in PHOTOS.items() if s == split))


def write_layout(folder, layout):
    """The captions file of ``layout`` (and the split lists it goes with) in ``folder``."""
    if layout == "kaggle":
        with open(folder / "captions.txt", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["image", "caption"])
            writer.writerows([name, c] for name, (_, captions) in PHOTOS.items() for c in captions)
        write_lists(folder)
        return folder / "captions.txt"
    if layout == "token":
        (folder / "Flickr8k.token.txt").write_text("".join(
            f"{name}#{i}\t{c}\n" for name, (_, captions) in PHOTOS.items() for i, c in enumerate(captions)))
        write_lists(folder)
        return folder / "Flickr8k.token.txt"
    images = [{"filename": name, "imgid": number, "split": KARPATHY_SPLIT[split],
               "sentences": [{"raw": c, "tokens": c.lower().strip(" .").split()} for c in captions]}
              for number, (name, (split, captions)) in enumerate(PHOTOS.items()) if split]
    (folder / "dataset_flickr8k.json").write_text(json.dumps({"images": images, "dataset": "flickr8k"}))
    return folder / "dataset_flickr8k.json"


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flickr") / "images"
    write_images(folder)
    return folder


@pytest.mark.parametrize("layout", ["kaggle", "token", "karpathy"])
def test_every_layout_gives_the_official_split_with_the_same_ids(layout, image_folder, tmp_path):
    captions = write_layout(tmp_path, layout)
    splits, how = read_own_data(str(captions), str(image_folder))
    assert ("Karpathy" in how) == (layout == "karpathy") and ("official split lists" in how) != (layout == "karpathy")
    # ids: 1, 2, ... in file-name order over the photos of the split (9_b.jpg is in none)
    assert {s: [(i.image_id, i.file_name) for i in images] for s, images in splits.items()} == {
        "train": [(1, "1_a.jpg"), (3, "3_c.jpg")], "valid": [(5, "5_e.jpg")], "test": [(2, "2_b.jpg"), (4, "4_d.jpg")]}
    girl = splits["test"][0]
    assert girl.captions == ["A girl in a red dress .", "a girl smiling"]
    assert girl.tokens == [["a", "girl", "in", "a", "red", "dress"], ["a", "girl", "smiling"]]


def test_the_command_writes_the_data_directory_and_features_with_their_backbone(image_folder, tmp_path):
    captions = write_layout(tmp_path, "token")
    out = tmp_path / "data"
    result = run_script("preprocess.own_data", "--images", image_folder, "--captions", captions, "--out", out,
                        "--backbone", "efficientnet-lite0")
    assert result.returncode == 0, result.stderr
    assert "official split lists" in result.stderr
    assert (out / "images.tsv").read_text() == "1_a.jpg\t1\n2_b.jpg\t2\n3_c.jpg\t3\n4_d.jpg\t4\n5_e.jpg\t5\n"
    assert (out / "test.ids").read_text().split() == ["2", "2", "4", "4"]
    assert (out / "train.txt").read_text().splitlines()[0] == "two kids play in the sand"
    assert json.loads((out / "valid.refs.json").read_text()) == {"5": PHOTOS["5_e.jpg"][1]}
    from saic_fairseq.features.backbones import BackboneSpec
    from saic_fairseq.features.feature_store import FeatureStore

    store = FeatureStore(out / "features.h5")
    assert sorted(store.image_ids()) == [1, 2, 3, 4, 5] and BackboneSpec.from_json(store.backbone).image_size == 224
    # --random-split ignores the lists: every photo, a seeded shuffle
    shuffled, how = read_own_data(str(captions), str(image_folder), split_lists=False, valid_fraction=0.2,
                                  test_fraction=0.2)
    assert "seeded shuffle" in how and sum(map(len, shuffled.values())) == 6


def test_an_unreadable_photo_is_left_out_with_its_captions(image_folder, tmp_path):
    import shutil

    folder = tmp_path / "images"
    shutil.copytree(image_folder, folder)
    (folder / "3_c.jpg").write_text("not a jpeg")
    captions = write_layout(tmp_path, "kaggle")
    result = run_script("preprocess.own_data", "--images", folder, "--captions", captions, "--out", tmp_path / "d",
                        "--backbone", "efficientnet-lite0")
    assert result.returncode == 1 and "3_c.jpg: not a readable image" in result.stderr
    assert (tmp_path / "d" / "train.ids").read_text().split() == ["1", "1"]
    strict = run_script("preprocess.own_data", "--images", folder, "--captions", captions, "--out", tmp_path / "e",
                        "--backbone", "efficientnet-lite0", "--strict")
    assert strict.returncode == 2 and "3_c.jpg" in strict.stderr and not (tmp_path / "e" / "train.txt").exists()


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: (d / "Flickr_8k.devImages.txt").write_text("5_e.jpg\nmissing.jpg\n"),
     "Flickr_8k.devImages.txt, line 2: image 'missing.jpg' has no caption in the captions file"),
    (lambda d: (d / "Flickr_8k.testImages.txt").write_text("2_b.jpg\n1_a.jpg\n"),
     "Flickr_8k.testImages.txt, line 2: image '1_a.jpg' is also in Flickr_8k.trainImages.txt"),
    (lambda d: (d / "Flickr_8k.devImages.txt").unlink(), "split lists incomplete: no *devImages.txt"),
    (lambda d: (d / "Flickr8k.token.txt").write_text("1_a.jpg#0\tA dog .\n1_a.jpg caption without a tab\n"),
     "Flickr8k.token.txt, line 2: expected NAME.jpg#N<TAB>caption"),
])
def test_bad_layouts_name_the_file_and_line(mutate, expected, image_folder, tmp_path):
    captions = write_layout(tmp_path, "token")
    mutate(tmp_path)
    with pytest.raises(SAICInputError) as err:
        read_own_data(str(captions), str(image_folder))
    assert expected in str(err.value)


def test_a_karpathy_file_naming_a_missing_photo(image_folder, tmp_path):
    captions = write_layout(tmp_path, "karpathy")
    data = json.loads(captions.read_text())
    data["images"][1]["filename"] = "gone.jpg"
    captions.write_text(json.dumps(data))
    with pytest.raises(SAICInputError, match=r"dataset_flickr8k.json, image id 1: image 'gone.jpg' is not in"):
        read_own_data(str(captions), str(image_folder))

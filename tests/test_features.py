"""Image features: converters (round trips), reader layouts, grid extractor, bad input."""
import base64
import os

import h5py
import numpy as np
import pytest

from conftest import run_script
from saic_fairseq.errors import SAICInputError
from saic_fairseq.features.feature_store import FeatureStore
from saic_fairseq.features.feature_writer import FeatureWriter


def b64(array):
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.float32).tobytes()).decode()


def tsv_line(image_id, features, boxes, w=640, h=480):
    return "\t".join(map(str, [image_id, w, h, len(features), b64(boxes), b64(features)])) + "\n"


def test_tsv_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    feats = {391895: rng.standard_normal((3, 8)), 7: rng.standard_normal((5, 8))}
    boxes = {i: rng.uniform(0, 400, (len(f), 4)) for i, f in feats.items()}
    tsv = tmp_path / "f.tsv"
    tsv.write_text("".join(tsv_line(i, feats[i], boxes[i]) for i in feats))
    result = run_script("preprocess.features_from_tsv", tsv, "--out", tmp_path / "f.h5")
    assert result.returncode == 0, result.stderr
    store = FeatureStore(tmp_path / "f.h5")
    assert store.dim == 8 and sorted(store.image_ids()) == [7, 391895]
    for i in feats:
        np.testing.assert_array_equal(store.features(i), feats[i].astype(np.float32))
        scale = np.array([640, 480, 640, 480], dtype=np.float32)
        np.testing.assert_allclose(store.boxes(i), boxes[i].astype(np.float32) / scale, rtol=1e-6)


def test_npy_folder_round_trip(tmp_path):
    folder = tmp_path / "feats"
    folder.mkdir()
    a, b = np.arange(12, dtype=np.float32).reshape(3, 4), np.ones((2, 4), np.float32)
    np.save(folder / "11.npy", a)
    np.savez(folder / "12.npz", features=b, boxes=np.zeros((2, 4)))
    result = run_script("preprocess.features_from_npy", folder, "--out", tmp_path / "f.h5")
    assert result.returncode == 0, result.stderr
    store = FeatureStore(tmp_path / "f.h5")
    np.testing.assert_array_equal(store.features(11), a)
    np.testing.assert_array_equal(store.features(12), b)
    assert store.boxes(11) is None and store.boxes(12).shape == (2, 4)


def test_reader_accepts_flat_id_features_layout(tmp_path):
    path = tmp_path / "flat.h5"
    with h5py.File(path, "w") as f:
        f["42_features"] = np.full((2, 3), 0.5, np.float32)
        f["42_boxes"] = np.zeros((2, 4), np.float32)
        f["43_features"] = np.zeros((4, 3), np.float32)
    store = FeatureStore(path)
    assert store.flat_layout and store.dim == 3 and sorted(store.image_ids()) == [42, 43]
    assert 42 in store and 44 not in store
    assert store.features(42).shape == (2, 3) and store.boxes(42).shape == (2, 4) and store.boxes(43) is None


def test_grid_features_of_real_photos(tmp_path):
    """Real photos from scikit-image through the pretrained EfficientNet-Lite0."""
    import skimage.data
    import torch
    from PIL import Image

    from saic_fairseq.features.grid_features import GridFeatureExtractor

    for name in ("chelsea", "coffee", "astronaut"):
        Image.fromarray(getattr(skimage.data, name)()).save(tmp_path / f"photo_{len(name)}.png")
    result = run_script("preprocess.extract_grid_features", tmp_path, "--out", tmp_path / "grid.h5")
    assert result.returncode == 0, result.stderr
    store = FeatureStore(tmp_path / "grid.h5")
    assert sorted(store.image_ids()) == [6, 7, 9] and store.dim == 1280
    assert store.features(7).shape == (49, 1280) and np.allclose(store.boxes(7)[-1], [6 / 7, 6 / 7, 1.0, 1.0])
    # the ImageNet weights really are loaded: the cat photo is classified as a cat (classes 281-285)
    extractor = GridFeatureExtractor()
    with torch.no_grad():
        logits = extractor.net(extractor.preprocess(skimage.data.chelsea())[None])
    assert 281 <= int(logits.argmax()) <= 285


def test_image_file_that_is_not_an_image(tmp_path):
    (tmp_path / "img_5.jpg").write_text("not a jpeg")
    result = run_script("preprocess.extract_grid_features", tmp_path / "img_5.jpg", "--out", tmp_path / "g.h5")
    assert result.returncode == 2 and "img_5.jpg" in result.stderr and "not a readable image" in result.stderr
    assert not (tmp_path / "g.h5").exists()


@pytest.mark.parametrize("case, expected", [
    ("wrong_width", "line 2 (image id 8): feature width 5 != expected 4"),
    ("nan", "line 2 (image id 8): features contain NaN or Inf"),
    ("duplicate", "line 2 (image id 7): duplicate image id 7"),
    ("bad_base64", "line 2 (image id 8): field 'features' is not valid base64"),
    ("zero_regions", "line 2 (image id 8): field 'boxes' holds 0 floats"),
])
def test_bad_tsv_input(tmp_path, case, expected):
    good = tsv_line(7, np.ones((2, 4)), np.ones((2, 4)))
    bad = {
        "wrong_width": tsv_line(8, np.ones((2, 5)), np.ones((2, 4))),
        "nan": tsv_line(8, np.full((2, 4), np.nan), np.ones((2, 4))),
        "duplicate": good,
        "bad_base64": tsv_line(8, np.ones((2, 4)), np.ones((2, 4))).rsplit("\t", 1)[0] + "\t@@not base64@@\n",
        "zero_regions": "\t".join(["8", "640", "480", "0", "", ""]) + "\n",
    }[case]
    tsv = tmp_path / "f.tsv"
    tsv.write_text(good + bad)
    out = tmp_path / "f.h5"
    result = run_script("preprocess.features_from_tsv", tsv, "--out", out)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"error: {tsv}, {expected}" or expected in result.stderr
    assert str(tsv) in result.stderr
    assert not out.exists() and not [p for p in os.listdir(tmp_path) if p.endswith(".partial")]


def test_existing_output_survives_a_failed_conversion(tmp_path):
    out = tmp_path / "f.h5"
    with FeatureWriter(out) as w:
        w.add(1, np.ones((1, 4)))
    with pytest.raises(SAICInputError, match="image id 2"):
        with FeatureWriter(out) as w:
            w.add(2, np.ones((0, 4)))
    assert FeatureStore(out).image_ids() == [1]


@pytest.mark.parametrize("content", [b"", b"this is not hdf5 at all", "truncate"])
def test_unreadable_feature_file(tmp_path, content):
    path = tmp_path / "bad.h5"
    if content == "truncate":
        with FeatureWriter(path) as w:
            for i in range(50):
                w.add(i, np.ones((10, 64)))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    else:
        path.write_bytes(content)
    with pytest.raises(SAICInputError, match=f"{path}: (not a readable HDF5|.*unreadable)"):
        store = FeatureStore(path)
        for i in store.image_ids():
            store.features(i)


def test_store_checks_width_against_expected(tmp_path):
    path = tmp_path / "f.h5"
    with FeatureWriter(path) as w:
        w.add(3, np.ones((2, 6)))
    with pytest.raises(SAICInputError, match=r"f.h5, image id 3: feature width 6 != expected 4"):
        FeatureStore(path, expected_dim=4).features(3)


def test_small_feature_file_is_kept_in_memory_after_first_read(tmp_path):
    path = str(tmp_path / "f.h5")
    with h5py.File(path, "w") as f:
        f["7"] = np.ones((3, 4), dtype=np.float32)
        f["boxes/7"] = np.zeros((3, 4), dtype=np.float32)
    cached, lazy = FeatureStore(path), FeatureStore(path, cache_mb=0)
    assert cached.features(7) is cached.features(7) and cached.boxes(7) is cached.boxes(7)
    assert lazy.features(7) is not lazy.features(7)
    np.testing.assert_array_equal(cached.features(7), lazy.features(7))
    with pytest.raises(SAICInputError, match="image id 8"):  # a missing id is still an error, not cached
        cached.features(8)


def test_text_proxy_training_split_does_not_depend_on_the_test_size(tmp_path, karpathy_split):
    """More test images (quality on 1,000) leave the training images and their features
    unchanged, so a model trained on one proxy can be scored on the other's test split."""
    from saic_fairseq.data.text_proxy import write_text_proxy

    small, large = tmp_path / "small", tmp_path / "large"
    small.mkdir(), large.mkdir()
    write_text_proxy(str(small), karpathy_split, {"train": 20, "valid": 5, "test": 5}, dim=8, seed=1)
    write_text_proxy(str(large), karpathy_split, {"train": 20, "valid": 5, "test": 12}, dim=8, seed=1)
    for name in ("train.txt", "train.ids", "valid.txt", "valid.ids"):
        assert (small / name).read_text() == (large / name).read_text(), name
    assert len(set((large / "test.ids").read_text().split())) == 12
    small_store, large_store = FeatureStore(str(small / "features.h5")), FeatureStore(str(large / "features.h5"))
    for image_id in set((small / "train.ids").read_text().split() + (small / "valid.ids").read_text().split()):
        assert np.array_equal(small_store.features(image_id), large_store.features(image_id)), image_id

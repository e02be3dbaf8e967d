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


@pytest.mark.parametrize("backbone, grid", [("efficientnet-lite0", 7), ("efficientnet-lite2", 9)])
def test_grid_features_of_real_photos(tmp_path, backbone, grid):
    """Real photos from scikit-image through the pretrained backbone, recorded in the file."""
    import skimage.data
    import torch
    from PIL import Image

    from saic_fairseq.features.backbones import BackboneSpec
    from saic_fairseq.features.grid_features import GridFeatureExtractor

    for name in ("chelsea", "coffee", "astronaut"):
        Image.fromarray(getattr(skimage.data, name)()).save(tmp_path / f"photo_{len(name)}.png")
    result = run_script("preprocess.extract_grid_features", tmp_path, "--out", tmp_path / "grid.h5",
                        "--backbone", backbone)
    assert result.returncode == 0, result.stderr
    store = FeatureStore(tmp_path / "grid.h5")
    assert sorted(store.image_ids()) == [6, 7, 9] and store.dim == 1280
    assert store.features(7).shape == (grid * grid, 1280)
    assert np.allclose(store.boxes(7)[-1], [(grid - 1) / grid, (grid - 1) / grid, 1.0, 1.0])
    spec = BackboneSpec.from_json(store.backbone)
    assert spec.name == backbone and spec.image_size == {7: 224, 9: 260}[grid] and spec.feature_dim == 1280
    # the ImageNet weights really are loaded: the cat photo is classified as a cat (classes 281-285)
    extractor = GridFeatureExtractor(backbone=backbone)
    assert extractor.spec == spec
    with torch.no_grad():
        logits = extractor.net.net(extractor.preprocess(skimage.data.chelsea())[None])
    assert 281 <= int(logits.argmax()) <= 285
    # stored in float16, read back as float32 equal to the extractor's own arrays at that precision
    (features, _), = extractor([skimage.data.astronaut()])
    assert store.features(9).dtype == np.float32
    assert np.allclose(store.features(9), features, rtol=1e-2, atol=1e-2)


def test_image_file_that_is_not_an_image(tmp_path):
    import skimage.data
    from PIL import Image

    (tmp_path / "img_5.jpg").write_text("not a jpeg")
    alone = run_script("preprocess.extract_grid_features", tmp_path / "img_5.jpg", "--out", tmp_path / "g.h5")
    assert alone.returncode == 2 and "img_5.jpg" in alone.stderr and "not a readable image" in alone.stderr
    assert "no readable image" in alone.stderr and not (tmp_path / "g.h5").exists()
    Image.fromarray(skimage.data.coffee()).save(tmp_path / "img_6.png")
    skipped = run_script("preprocess.extract_grid_features", tmp_path, "--out", tmp_path / "s.h5")
    assert skipped.returncode == 1 and "img_5.jpg" in skipped.stderr and "skipped" in skipped.stderr
    assert FeatureStore(tmp_path / "s.h5").image_ids() == [6]
    strict = run_script("preprocess.extract_grid_features", tmp_path, "--out", tmp_path / "t.h5", "--strict")
    assert strict.returncode == 2 and "img_5.jpg: not a readable image" in strict.stderr
    assert not (tmp_path / "t.h5").exists()


def test_an_interrupted_extraction_resumes_where_it_stopped(tmp_path):
    import skimage.data
    from PIL import Image

    from saic_fairseq.features.extraction import extract_features

    for number, name in enumerate(("chelsea", "coffee", "astronaut", "rocket"), 1):
        Image.fromarray(getattr(skimage.data, name)()).save(tmp_path / f"{number}.png")
    (tmp_path / "5.png").write_text("broken")
    pairs = [(str(tmp_path / f"{i}.png"), i) for i in range(1, 6)]
    out = tmp_path / "f.h5"
    with pytest.raises(SAICInputError, match="5.png"):
        extract_features(pairs, str(out), "efficientnet-lite0", batch_size=2, strict=True)
    assert not out.exists() and sorted(FeatureStore(str(out) + ".partial").image_ids()) == [1, 2, 3, 4]
    # the next run reads nothing it already has: image 1 is no longer an image, and it does not matter
    (tmp_path / "1.png").write_text("broken too")
    Image.fromarray(skimage.data.camera()).save(tmp_path / "5.png")
    count, skipped = extract_features(pairs, str(out), "efficientnet-lite0", batch_size=2, strict=True)
    assert count == 5 and skipped == [] and not os.path.exists(str(out) + ".partial")
    assert sorted(FeatureStore(out).image_ids()) == [1, 2, 3, 4, 5]
    # a partial file of another backbone is refused, naming both
    (tmp_path / "g.h5.partial").write_bytes((tmp_path / "f.h5").read_bytes())
    with pytest.raises(SAICInputError, match="another backbone"):
        extract_features(pairs[1:], str(tmp_path / "g.h5"), "efficientnet-lite2")


def test_backbone_names_and_classifier_trunks():
    import torch

    from saic_fairseq.features.backbones import BackboneSpec, build_backbone, classifier_trunk

    with pytest.raises(SAICInputError, match="unknown backbone 'resnet'.*torchvision:NAME"):
        build_backbone("resnet")
    spec = BackboneSpec("efficientnet-lite2", 260, 1280)
    assert BackboneSpec.from_json(spec.to_json()) == spec
    with pytest.raises(SAICInputError, match="unreadable backbone record"):
        BackboneSpec.from_json("{not json")

    class WithFeatures(torch.nn.Module):  # efficientnet, mobilenet, convnext, vgg: .features is the trunk
        def __init__(self):
            super().__init__()
            self.features, self.classifier = torch.nn.Conv2d(3, 8, 3), torch.nn.Linear(8, 2)

    class ResNetLike(torch.nn.Module):  # resnet, regnet: every layer before .avgpool
        def __init__(self):
            super().__init__()
            self.conv, self.layer1 = torch.nn.Conv2d(3, 4, 3), torch.nn.Conv2d(4, 6, 3)
            self.avgpool, self.fc = torch.nn.AdaptiveAvgPool2d(1), torch.nn.Linear(6, 2)

    net = WithFeatures()
    assert classifier_trunk(net) is net.features
    assert classifier_trunk(ResNetLike())(torch.zeros(1, 3, 9, 9)).shape == (1, 6, 5, 5)
    with pytest.raises(SAICInputError, match="Linear has no convolutional trunk"):
        classifier_trunk(torch.nn.Linear(2, 2))


def test_a_torchvision_backbone_with_random_weights(tmp_path):
    pytest.importorskip("torchvision")
    from saic_fairseq.features.grid_features import GridFeatureExtractor

    extractor = GridFeatureExtractor(backbone="torchvision:resnet18", weights=False)
    (features, boxes), = extractor([np.zeros((50, 60, 3), np.uint8)])
    assert extractor.spec.feature_dim == 512 and features.shape == (49, 512) and boxes.shape == (49, 4)


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

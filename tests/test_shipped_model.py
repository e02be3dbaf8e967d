"""The model that ships in the repository captions photos on a fresh clone, and no caption
shown to a user contains <unk>."""
import os

import numpy as np
import pytest
import torch

from conftest import fairseq_cli

MODES = [dict(decoding="aic", beam=1), dict(decoding="aic", beam=3), dict(decoding="saic", outline_beam=1),
         dict(decoding="saic", outline_beam=3, fill_beam=2), dict(decoding="naic"), dict(decoding="ir-naic")]


def skimage_photos():
    import skimage.data

    return {name: getattr(skimage.data, name)() for name in ("astronaut", "chelsea", "coffee", "rocket")}


def test_no_mode_writes_unk_for_a_user_even_where_the_model_prefers_it(checkpoints):
    from saic_fairseq.hub import SAICCaptioner

    captioner = SAICCaptioner.from_pretrained(checkpoints[1])
    unk = captioner.task.target_dictionary.unk()

    def prefer_unk(module, inputs, output):  # every decoder call now likes <unk> best by far
        output = output.clone()
        output[..., unk] += 100.0
        return output

    captioner.model.decoder.output_projection.register_forward_hook(prefer_unk)
    store, ids = captioner.split_images("test")
    features = [(store.features(i), store.boxes(i)) for i in ids[:6]]
    for mode in MODES:
        captions = captioner.caption_features(features, **mode)
        assert all(captions) and not any("<unk>" in c for c in captions), mode
    # allowed, the same model does write it: the hook bites
    assert all("<unk>" in c for c in captioner.caption_features(features, decoding="aic", beam=1, allow_unk=True))


def test_the_shipped_model_captions_photos_with_no_path_and_no_data(tmp_path):
    from PIL import Image

    from saic_fairseq.hub import SAICCaptioner
    from saic_fairseq.pretrained import shipped_model

    path = shipped_model()
    assert os.path.getsize(path) <= 20 * 2**20
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert all(v.dtype == torch.float16 for v in state["model"].values() if v.is_floating_point())
    assert state["cfg"]["task"]["data"] == "" and "last_optimizer_state" not in state
    captioner = SAICCaptioner.from_pretrained()
    assert captioner.backbone.name == "efficientnet-lite2" and captioner.dtype == torch.float32
    photos = skimage_photos()
    captions = captioner.caption(list(photos.values()))
    assert len(captions) == 4 and all(len(c.split()) >= 3 for c in captions)
    for mode in MODES:
        assert not any("<unk>" in c for c in captioner.caption(list(photos.values()), **mode)), mode
    # the command, with no --path, captions a photo file the same way
    for name, array in photos.items():
        Image.fromarray(array).save(tmp_path / f"{name}.png")
    out = fairseq_cli("saic-caption", tmp_path / "astronaut.png", tmp_path / "coffee.png")
    lines = dict(line.split("\t") for line in out.stdout.strip().splitlines())
    assert lines == {str(tmp_path / "astronaut.png"): captions[0], str(tmp_path / "coffee.png"): captions[2]}
    # the decoding defaults it ships with: SAIC 1/1
    assert captions == captioner.caption(list(photos.values()), decoding="saic", outline_beam=1, fill_beam=1)
    assert np.isfinite([r["score"] for r in captioner.caption([photos["rocket"]], nbest=1)[0]]).all()


def test_the_shipped_model_is_refused_by_name_when_missing(monkeypatch, tmp_path):
    from saic_fairseq import pretrained
    from saic_fairseq.errors import SAICInputError

    monkeypatch.setattr(pretrained, "SHIPPED_MODEL_FILE", "nothing-here.pt")
    with pytest.raises(SAICInputError, match="nothing-here.pt: the shipped model is missing"):
        pretrained.shipped_model()

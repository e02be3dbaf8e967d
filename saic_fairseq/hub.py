"""Caption images from Python, in fairseq's hub style.

    from saic_fairseq.hub import SAICCaptioner
    captioner = SAICCaptioner.from_pretrained()  # the model that ships with the package (Flickr8k)
    captioner = SAICCaptioner.from_pretrained("runs/grid/saic").to("cuda").half()
    captioner.caption(["photo.jpg"], decoding="saic", outline_beam=1, fill_beam=1)  # ["a cat on a sofa"]
    captioner.caption(["photo.jpg"], decoding="aic", beam=5, nbest=3)  # [[{"caption", "score"} x 3]]

The checkpoint carries its dictionary (checkpoints written by older versions read the data
directory saved in them, or ``data=``), so a model folder can be moved or shared on its own.

Raw images go through the backbone the model was trained on (recorded in its checkpoint; the
grid-feature extractor of ``preprocess.extract_grid_features``), so a model trained on those
features captions photos; a model trained on other features (region features, the text proxy)
captions feature arrays or an HDF5 file of them. Captions never contain ``<unk>``.
"""
import argparse
import os

import numpy as np
import torch

from saic_fairseq.caption_text import caption_text
from saic_fairseq.captioning import caption_samples
from saic_fairseq.data.image_caption_dataset import collate_features
from saic_fairseq.errors import SAICInputError
from saic_fairseq.generators import build_caption_generator


class SAICCaptioner:
    """A loaded ``saic_transformer`` checkpoint with its dictionary, ready to caption."""

    def __init__(self, task, model, device="cpu"):
        self.task, self.model, self.device = task, model, torch.device(device)
        self._extractor = None
        self._generators = {}  # decoding options -> generator, built once (they hold the model, not copies)
        self.saved_task = {"data": None, "features": None}

    def to(self, device):
        """Move the model (and the image feature extractor) to ``device``; returns self."""
        self.device = torch.device(device)
        self.model.to(self.device)
        if self._extractor is not None:
            self._extractor = None  # rebuilt on the new device when next needed
        return self

    def half(self):
        """Decode in float16 (on a GPU; CPUs lack fast half-precision kernels); returns self."""
        if self.device.type == "cpu":
            raise SAICInputError("half()", None, "float16 decoding needs a GPU: call .to('cuda') first")
        self.model.half()
        return self

    @property
    def dtype(self):
        return next(self.model.parameters()).dtype

    @classmethod
    def from_pretrained(cls, model_path=None, checkpoint_file="checkpoint_best.pt", data=None, device="cpu",
                        **task_overrides):
        """Load ``model_path/checkpoint_file`` (or ``model_path`` if it is a file; None: the model
        that ships with the package, ``saic_fairseq/pretrained``). Its dictionary comes from the
        checkpoint; ``data`` (default: the data directory saved in the checkpoint) is read only
        for checkpoints that do not carry one."""
        from saic_fairseq.checkpoint_inspection import check_checkpoint
        from saic_fairseq.model_loading import load_model_for_split
        from saic_fairseq.pretrained import shipped_model

        model_path = shipped_model() if model_path is None else os.fspath(model_path)
        path = model_path if os.path.isfile(model_path) else os.path.join(model_path, checkpoint_file)
        saved = check_checkpoint(path)
        task, model = load_model_for_split(path, data or saved["data"] or "", task_overrides.pop("features", ""), None,
                                           device, **task_overrides)
        captioner = cls(task, model, device)
        captioner.saved_task = saved  # where it was trained: {"data", "features"} (may have moved since)
        return captioner

    @property
    def feature_dim(self):
        return self.model.args.feature_dim

    @property
    def backbone(self):
        """The BackboneSpec of the features this model reads, recorded in its checkpoint; None
        when they came from no backbone (region features, the text proxy). Checkpoints written
        before backbones were recorded read 1,280-wide EfficientNet-Lite0 grids."""
        from saic_fairseq.features.backbones import EFFICIENTNET_LITE, LEGACY_BACKBONE, BackboneSpec

        spec = self.task.backbone
        if spec is None and self.feature_dim == 1280:
            spec = BackboneSpec(LEGACY_BACKBONE, EFFICIENTNET_LITE[LEGACY_BACKBONE], 1280)
        return spec

    def check_image_features(self, backbone=None):
        """Raise a clear error unless this model reads the grid features of a backbone (and,
        when ``backbone`` names one, that very one)."""
        from saic_fairseq.features.backbones import check_same_backbone

        if self.backbone is None or self.backbone.feature_dim != self.feature_dim:
            raise SAICInputError(
                "--path", None, f"this model reads features of width {self.feature_dim} that no image backbone "
                "made: it was trained on other features; caption a feature file of its kind (--features) instead")
        check_same_backbone(self.backbone.name, backbone, "--backbone")

    def features_of_images(self, images, batch_size=16):
        """[(features, boxes)] of image files or (H, W, 3) uint8 arrays (the model's backbone)."""
        from saic_fairseq.features.grid_features import GridFeatureExtractor, load_image

        self.check_image_features()
        if self._extractor is None:
            self._extractor = GridFeatureExtractor(self.device, self.backbone.name)
        arrays = [load_image(i) if isinstance(i, (str, os.PathLike)) else np.asarray(i) for i in images]
        out = []
        for start in range(0, len(arrays), batch_size):
            out += self._extractor(arrays[start : start + batch_size])
        return out

    def caption_files(self, paths, batch_size=16, skip_unreadable=True, **decoding_options):
        """Caption image files a batch at a time, without holding more than one batch in memory.

        Yields ``(path, result, error)`` per file, in order, as each batch finishes: ``result`` is
        what ``caption_features`` gives for one image and ``error`` None, or, for a file that is
        not a readable image, ``result`` None and ``error`` the SAICInputError naming it (raised
        instead when not ``skip_unreadable``).
        """
        from saic_fairseq.features.grid_features import load_image

        self.check_image_features()
        for start in range(0, len(paths), batch_size):
            loaded, failed = [], {}
            for path in paths[start : start + batch_size]:
                try:
                    loaded.append((path, load_image(path)))
                except SAICInputError as err:
                    if not skip_unreadable:
                        raise
                    failed[path] = err
            results = iter(self.caption_features(self.features_of_images([a for _, a in loaded]) if loaded else [],
                                                 batch_size=batch_size, **decoding_options))
            for path in paths[start : start + batch_size]:
                yield (path, None, failed[path]) if path in failed else (path, next(results), None)

    def split_images(self, split, data=None, features=None):
        """(FeatureStore, image ids in order) of a data split: the ids of ``DATA/{split}.ids``
        (``data``, default the data directory saved in the checkpoint) and ``features`` (default
        the feature file saved in the checkpoint if it still exists, else ``DATA/features.h5``)."""
        from saic_fairseq.data.coco_captions import read_image_ids

        data = data or self.saved_task["data"]
        if not data:
            raise SAICInputError("--data", None, f"split {split!r} needs the data directory (none is saved in the "
                                 "checkpoint)")
        ids = list(dict.fromkeys(read_image_ids(os.path.join(data, f"{split}.ids")).tolist()))
        saved = self.saved_task["features"]
        features = features or (saved if saved and os.path.exists(saved) else os.path.join(data, "features.h5"))
        return self.open_features(features), ids

    def open_features(self, path):
        """A FeatureStore of ``path``, refused (naming both) when its recorded backbone is not the model's."""
        from saic_fairseq.features.backbones import BackboneSpec
        from saic_fairseq.features.feature_store import FeatureStore

        store = FeatureStore(path, expected_dim=self.feature_dim)
        if store.backbone and self.task.backbone is not None:
            made_by = BackboneSpec.from_json(store.backbone, path).name
            if made_by != self.task.backbone.name:
                raise SAICInputError(path, None, f"features of {made_by}, but this model was trained on "
                                     f"{self.task.backbone.name} features")
        return store

    def caption_stored(self, store, image_ids, batch_size=32, **decoding_options):
        """Caption the images ``image_ids`` of a FeatureStore a batch at a time; yields
        ``(image_id, result)`` as each batch finishes (``result`` as in ``caption_features``)."""
        for image_id in image_ids:
            if image_id not in store:
                raise SAICInputError(store.path, f"image id {image_id}", "no features for this image")
        for start in range(0, len(image_ids), batch_size):
            chunk = image_ids[start : start + batch_size]
            results = self.caption_features([(store.features(i), store.boxes(i)) for i in chunk],
                                            batch_size=batch_size, **decoding_options)
            yield from zip(chunk, results)

    @torch.no_grad()
    def caption_features(self, features, decoding="saic", beam=5, outline_beam=None, fill_beam=None,
                         iterations=None, fill_iterations=None, keep_repeats=None, outline_length=None, batch_size=32,
                         nbest=None, allow_unk=False):
        """Captions of ``[(features (R, D), boxes (R, 4) or None)]``.

        Returns one string per image, or with ``nbest=N`` one list per image of N
        ``{"caption": str, "score": float}``, best first (score: the length-normalised
        log-probability). N is at most the candidates the mode keeps: ``beam`` (aic),
        ``fill_beam`` (saic), 1 (naic, ir-naic). No caption contains ``<unk>`` unless
        ``allow_unk`` (then they are fairseq-generate's, ``--unkpen 0``).
        """
        options = (decoding, outline_beam, fill_beam, iterations, fill_iterations, keep_repeats, outline_length)
        if (beam, options, allow_unk) not in self._generators:
            self._generators[beam, options, allow_unk] = build_caption_generator(
                self.task, [self.model], argparse.Namespace(beam=beam), *options, forbid_unk=not allow_unk)
        generator = self._generators[beam, options, allow_unk]
        dictionary = self.task.target_dictionary
        captions = []
        for start in range(0, len(features), batch_size):
            chunk = features[start : start + batch_size]
            feats = [torch.as_tensor(np.asarray(f, dtype=np.float32)).to(self.dtype) for f, _ in chunk]
            for f in feats:
                if f.dim() != 2 or f.size(1) != self.feature_dim:
                    raise SAICInputError("features", None, f"array of shape {tuple(f.shape)}, the model reads "
                                         f"(regions, {self.feature_dim})")
            boxes = [None if b is None else torch.as_tensor(np.asarray(b, dtype=np.float32)).to(self.dtype)
                     for _, b in chunk]
            padded, mask, padded_boxes = collate_features(feats, boxes)
            sample = {"id": torch.arange(len(chunk)), "image_id": torch.arange(len(chunk)),
                      "net_input": {"features": padded, "padding_mask": mask, "boxes": padded_boxes}}
            (_, hypos), = caption_samples(generator, self.model, [sample], self.device)
            for sentence in hypos:
                if nbest is None:
                    captions.append(caption_text(dictionary, sentence[0]["tokens"]))
                    continue
                if len(sentence) < nbest:
                    raise SAICInputError("--nbest", None, f"{nbest} captions asked, but --decoding {decoding} keeps "
                                         f"{len(sentence)} per image (aic: --beam, saic: --fill-beam; naic and "
                                         "ir-naic: 1)")
                captions.append([{"caption": caption_text(dictionary, h["tokens"]), "score": float(h["score"])}
                                 for h in sentence[:nbest]])
        return captions

    def caption(self, images, **decoding_options):
        """Captions of image files (or RGB arrays): see ``caption_features`` for the options and
        what is returned."""
        return self.caption_features(self.features_of_images(images), **decoding_options)

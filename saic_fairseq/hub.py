"""Caption images from Python, in fairseq's hub style.

    from saic_fairseq.hub import SAICCaptioner
    captioner = SAICCaptioner.from_pretrained("runs/coco/saic", data="data/coco")
    captioner.caption(["photo.jpg"], decoding="saic", outline_beam=1, fill_beam=1)

Raw images go through the same grid-feature extractor as ``preprocess.extract_grid_features``,
so a model trained on those features captions photos; a model trained on other features
(region features, the text proxy) captions feature arrays or an HDF5 file of them.
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
        self.task, self.model, self.device = task, model, device
        self._extractor = None

    @classmethod
    def from_pretrained(cls, model_path, checkpoint_file="checkpoint_best.pt", data=None, device="cpu",
                        **task_overrides):
        """Load ``model_path/checkpoint_file`` (or ``model_path`` if it is a file); ``data`` is the
        directory of its ``dict.txt`` (default: the data directory saved in the checkpoint)."""
        from saic_fairseq.checkpoint_inspection import check_checkpoint
        from saic_fairseq.model_loading import load_model_for_split

        path = model_path if os.path.isfile(model_path) else os.path.join(model_path, checkpoint_file)
        saved_data = check_checkpoint(path)
        task, model = load_model_for_split(path, data or saved_data, task_overrides.pop("features", ""), None, device,
                                           **task_overrides)
        return cls(task, model, device)

    @property
    def feature_dim(self):
        return self.model.args.feature_dim

    def features_of_images(self, images, batch_size=16):
        """[(features, boxes)] of image files or (H, W, 3) uint8 arrays (EfficientNet-Lite0 grid)."""
        from saic_fairseq.features.grid_features import FEATURE_DIM, GridFeatureExtractor, load_image

        if self.feature_dim != FEATURE_DIM:
            raise SAICInputError(
                "--path", None, f"this model reads features of width {self.feature_dim}, but images give "
                f"{FEATURE_DIM}-wide EfficientNet-Lite0 grid features: it was trained on other features; "
                "caption a feature file of its kind (--features) instead")
        if self._extractor is None:
            self._extractor = GridFeatureExtractor(self.device)
        arrays = [load_image(i) if isinstance(i, (str, os.PathLike)) else np.asarray(i) for i in images]
        out = []
        for start in range(0, len(arrays), batch_size):
            out += self._extractor(arrays[start : start + batch_size])
        return out

    @torch.no_grad()
    def caption_features(self, features, decoding="saic", beam=5, outline_beam=None, fill_beam=None,
                         iterations=None, fill_iterations=None, batch_size=32):
        """Captions of ``[(features (R, D), boxes (R, 4) or None)]``, one string each."""
        generator = build_caption_generator(self.task, [self.model], argparse.Namespace(beam=beam), decoding,
                                            outline_beam, fill_beam, iterations, fill_iterations)
        dictionary = self.task.target_dictionary
        captions = []
        for start in range(0, len(features), batch_size):
            chunk = features[start : start + batch_size]
            feats = [torch.as_tensor(np.asarray(f, dtype=np.float32)) for f, _ in chunk]
            for f in feats:
                if f.dim() != 2 or f.size(1) != self.feature_dim:
                    raise SAICInputError("features", None, f"array of shape {tuple(f.shape)}, the model reads "
                                         f"(regions, {self.feature_dim})")
            boxes = [None if b is None else torch.as_tensor(np.asarray(b, dtype=np.float32)) for _, b in chunk]
            padded, mask, padded_boxes = collate_features(feats, boxes)
            sample = {"id": torch.arange(len(chunk)), "image_id": torch.arange(len(chunk)),
                      "net_input": {"features": padded, "padding_mask": mask, "boxes": padded_boxes}}
            (_, hypos), = caption_samples(generator, self.model, [sample], self.device)
            captions += [caption_text(dictionary, sentence[0]["tokens"]) for sentence in hypos]
        return captions

    def caption(self, images, **decoding_options):
        """Captions of image files (or RGB arrays), one string each."""
        return self.caption_features(self.features_of_images(images), **decoding_options)

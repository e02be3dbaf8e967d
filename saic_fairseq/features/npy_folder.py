"""Read a folder of per-image feature files: ``<image id>.npy`` (R x D) or ``<image id>.npz``
(a 2-D array under ``features``, ``feat`` or ``x``; boxes under ``boxes`` or ``bbox``)."""
import os

import numpy as np

from saic_fairseq.errors import SAICInputError

FEATURE_KEYS = ("features", "feat", "x")
BOX_KEYS = ("boxes", "bbox")


def read_npy_folder(folder):
    """Yield (image_id, features, boxes or None, where) for every .npy / .npz file, by name."""
    names = sorted(n for n in os.listdir(folder) if n.endswith((".npy", ".npz")))
    if not names:
        raise SAICInputError(folder, None, "no .npy or .npz files")
    seen = {}
    for name in names:
        path = os.path.join(folder, name)
        stem = os.path.splitext(name)[0]
        try:
            image_id = int(stem)
        except ValueError:
            raise SAICInputError(path, None, f"file name {stem!r} is not an image id")
        if image_id in seen:
            raise SAICInputError(path, f"image id {image_id}", f"duplicate image id (also {seen[image_id]})")
        seen[image_id] = name
        try:
            loaded = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as err:
            raise SAICInputError(path, f"image id {image_id}", f"not a readable numpy file: {err}")
        if isinstance(loaded, np.ndarray):
            yield image_id, loaded, None, f"image id {image_id}"
            continue
        with loaded:
            key = next((k for k in FEATURE_KEYS if k in loaded.files), None)
            if key is None:
                raise SAICInputError(path, f"image id {image_id}", f"no array named one of {FEATURE_KEYS}")
            box_key = next((k for k in BOX_KEYS if k in loaded.files), None)
            yield image_id, loaded[key], (loaded[box_key] if box_key else None), f"image id {image_id}"

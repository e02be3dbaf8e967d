"""Write image features into the HDF5 layout that FeatureStore reads, atomically or resumably."""
import logging
import os

import h5py
import numpy as np

from saic_fairseq.atomic_write import atomic_path
from saic_fairseq.errors import SAICInputError
from saic_fairseq.features.feature_store import check_feature_array


class FeatureWriter:
    """Context manager: ``with FeatureWriter(out, dim) as w: w.add(image_id, feats, boxes)``.

    The file appears under ``out`` only when the block ends without error; every array is
    checked (width, regions, finite values) and duplicate image ids are refused, each error
    naming ``source`` (the input being converted) and the image id.

    ``attrs`` are written as the file's attributes (a backbone record, say). With ``resume``
    the file grows under ``path + ".partial"``, which an interrupted run leaves behind (flushed
    every ``flush_every`` images) and the next run with the same ``attrs`` continues:
    ``writer.done`` holds the image ids it already has.
    """

    def __init__(self, path, dim=None, source=None, dtype=np.float32, attrs=None, resume=False, flush_every=64):
        self.path = os.fspath(path)
        self.dim = dim
        self.source = source or path
        self.dtype = dtype
        self.attrs = dict(attrs or {})
        self.resume = resume
        self.flush_every = flush_every
        self._atomic = None
        self._h5 = None
        self.count = 0
        self.done = set()

    @property
    def partial_path(self):
        return self.path + ".partial"

    def __enter__(self):
        if self.resume:
            self._h5 = self._open_partial()
        else:
            self._atomic = atomic_path(self.path)
            self._h5 = h5py.File(self._atomic.__enter__(), "w")
        for key, value in self.attrs.items():
            self._h5.attrs[key] = value
        return self

    def _open_partial(self):
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        if os.path.exists(self.partial_path):
            try:
                handle = h5py.File(self.partial_path, "a")
            except OSError as err:  # killed mid-write: start again
                logging.getLogger(__name__).warning(f"{self.partial_path} is unreadable ({err}); starting again")
                os.unlink(self.partial_path)
            else:
                for key, value in self.attrs.items():
                    if key in handle.attrs and handle.attrs[key] != value:
                        before = handle.attrs[key]
                        handle.close()
                        raise SAICInputError(self.partial_path, None, f"an interrupted run with another {key} "
                                             f"({before}, not {value}): delete it to start again")
                self.done = {int(k) for k in handle.keys() if k != "boxes"}
                if self.dim is None and "feature_dim" in handle.attrs:
                    self.dim = int(handle.attrs["feature_dim"])
                return handle
        return h5py.File(self.partial_path, "w")

    def add(self, image_id, features, boxes=None, where=None):
        image_id = int(image_id)
        features = np.asarray(features, dtype=np.float32)
        if self.dim is None and features.ndim == 2:
            self.dim = features.shape[1]
        location = where or f"image id {image_id}"
        if str(image_id) in self._h5:
            raise SAICInputError(self.source, location, f"duplicate image id {image_id}")
        try:
            check_feature_array(features, self.dim, self.source, image_id)
        except SAICInputError as err:
            raise SAICInputError(self.source, location, err.problem)
        self._h5.create_dataset(str(image_id), data=features.astype(self.dtype))
        if boxes is not None:
            boxes = np.asarray(boxes, dtype=np.float32)
            if boxes.shape != (features.shape[0], 4):
                raise SAICInputError(self.source, location, f"boxes shape {boxes.shape} != ({features.shape[0]}, 4)")
            self._h5.create_dataset(f"boxes/{image_id}", data=boxes)
        self.count += 1
        self.done.add(image_id)
        if self.resume and self.count % self.flush_every == 0:
            self._h5.attrs["feature_dim"] = self.dim
            self._h5.flush()

    def __exit__(self, exc_type, exc, tb):
        if self.dim is not None:
            self._h5.attrs["feature_dim"] = self.dim
        self._h5.close()
        if self.resume:
            if exc_type is None:
                os.replace(self.partial_path, self.path)
            return False
        return self._atomic.__exit__(exc_type, exc, tb)


def write_features(path, records, source, total=None):
    """Write ``(image_id, features, boxes, where)`` records to ``path`` (all or nothing)."""
    from tqdm import tqdm

    with FeatureWriter(path, source=source) as writer:
        for image_id, features, boxes, where in tqdm(records, total=total, desc=f"features -> {path}"):
            writer.add(image_id, features, boxes, where=where)
    return writer.count

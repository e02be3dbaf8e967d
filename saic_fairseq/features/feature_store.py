"""Read image features from HDF5 lazily: one (R, D) float array per image id.

Layouts accepted (docs/design.md, Data): a dataset per image id named by the decimal id
(``"391895"``) with optional boxes under ``boxes/391895``; or the common flat layout with
``391895_features`` / ``391895_boxes`` keys. Nothing is read until asked for, and the file is
opened once per process (h5py handles must not cross a fork into DataLoader workers).
A file no larger than ``cache_mb`` keeps each image's arrays after their first read (every
image has several captions, read every epoch); a larger file stays fully lazy.
"""
import os

import h5py
import numpy as np

from saic_fairseq.errors import SAICInputError


def open_hdf5(path):
    """h5py.File(path, "r") with an error that says which file is not readable HDF5."""
    if not os.path.exists(path):
        raise SAICInputError(path, None, "feature file does not exist")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise SAICInputError(path, None, f"not a readable HDF5 feature file (truncated or another format): {err}")


class FeatureStore:
    """Lazy, read-only image features.

    Args:
        path: the HDF5 file.
        expected_dim: if given, every array must be (R, expected_dim).
        cache_mb: keep arrays in memory after their first read when the file is at most this
            many MiB (0: never).
    """

    def __init__(self, path, expected_dim=None, cache_mb=256):
        self.path = os.fspath(path)
        self._handle = None
        self._pid = None
        self._cache = {} if os.path.exists(self.path) and os.path.getsize(self.path) <= cache_mb * 2**20 else None
        handle = self._file()
        first = next((k for k in handle.keys() if k != "boxes" and not k.endswith("_boxes")), None)
        if first is None:
            raise SAICInputError(self.path, None, "feature file holds no image")
        self.flat_layout = first.endswith("_features")
        self.dim = int(handle[first].shape[-1]) if expected_dim is None else int(expected_dim)
        record = handle.attrs.get("backbone")
        #: the JSON record of the backbone that made the features (features/backbones.py), or None
        self.backbone = record.decode() if isinstance(record, bytes) else record

    def _file(self):
        if self._handle is None or self._pid != os.getpid():
            self._handle = open_hdf5(self.path)
            self._pid = os.getpid()
        return self._handle

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_handle"] = None
        return state

    def _feature_key(self, image_id):
        return f"{image_id}_features" if self.flat_layout else str(image_id)

    def _box_key(self, image_id):
        return f"{image_id}_boxes" if self.flat_layout else f"boxes/{image_id}"

    def __contains__(self, image_id):
        return self._feature_key(image_id) in self._file()

    def image_ids(self):
        """Every image id in the file (reads the key list only)."""
        suffix = "_features"
        keys = self._file().keys()
        if self.flat_layout:
            return [int(k[: -len(suffix)]) for k in keys if k.endswith(suffix)]
        return [int(k) for k in keys if k != "boxes"]

    def check_has(self, image_ids, source):
        """Stop on the first id of ``image_ids`` (line order of ``source``) with no features."""
        handle = self._file()
        for line, image_id in enumerate(image_ids, 1):
            if self._feature_key(image_id) not in handle:
                raise SAICInputError(source, f"line {line}", f"image id {image_id} has no features in {self.path}")

    def num_regions(self, image_id):
        return int(self._file()[self._feature_key(image_id)].shape[0])

    def features(self, image_id):
        """(R, D) float32 array of one image, checked for width, emptiness and NaN/Inf."""
        return self._cached(self._read_features, image_id)

    def _read_features(self, image_id):
        try:
            array = np.asarray(self._file()[self._feature_key(image_id)][()], dtype=np.float32)
        except KeyError:
            raise SAICInputError(self.path, f"image id {image_id}", "no features for this image")
        except OSError as err:
            raise SAICInputError(self.path, f"image id {image_id}", f"unreadable (truncated file?): {err}")
        check_feature_array(array, self.dim, self.path, image_id)
        return array

    def boxes(self, image_id):
        """(R, 4) float32 boxes (x1, y1, x2, y2, normalised to the image) or None."""
        return self._cached(self._read_boxes, image_id)

    def _cached(self, read, image_id):
        """``read(image_id)``, kept after the first call when the file is small enough."""
        if self._cache is None:
            return read(image_id)
        key = (read.__name__, image_id)
        if key not in self._cache:
            self._cache[key] = read(image_id)
        return self._cache[key]

    def _read_boxes(self, image_id):
        handle = self._file()
        key = self._box_key(image_id)
        if key not in handle:
            return None
        return np.asarray(handle[key][()], dtype=np.float32)


def check_feature_array(array, dim, path, image_id):
    """Raise SAICInputError naming ``path`` and ``image_id`` unless ``array`` is (R>0, dim) and finite."""
    where = f"image id {image_id}"
    if array.ndim != 2:
        raise SAICInputError(path, where, f"features must be a 2-D (regions x dim) array, got shape {array.shape}")
    if dim is not None and array.shape[1] != dim:
        raise SAICInputError(path, where, f"feature width {array.shape[1]} != expected {dim}")
    if array.shape[0] == 0:
        raise SAICInputError(path, where, "zero regions")
    if not np.isfinite(array).all():
        raise SAICInputError(path, where, "features contain NaN or Inf")

"""Write image features into the HDF5 layout that FeatureStore reads, atomically."""
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
    """

    def __init__(self, path, dim=None, source=None, dtype=np.float32):
        self.path = path
        self.dim = dim
        self.source = source or path
        self.dtype = dtype
        self._atomic = None
        self._h5 = None
        self.count = 0

    def __enter__(self):
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        self._h5 = h5py.File(tmp, "w")
        return self

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

    def __exit__(self, exc_type, exc, tb):
        if self.dim is not None:
            self._h5.attrs["feature_dim"] = self.dim
        self._h5.close()
        return self._atomic.__exit__(exc_type, exc, tb)


def write_features(path, records, source, total=None):
    """Write ``(image_id, features, boxes, where)`` records to ``path`` (all or nothing)."""
    from tqdm import tqdm

    with FeatureWriter(path, source=source) as writer:
        for image_id, features, boxes, where in tqdm(records, total=total, desc=f"features -> {path}"):
            writer.add(image_id, features, boxes, where=where)
    return writer.count

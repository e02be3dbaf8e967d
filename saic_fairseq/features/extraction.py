"""Image files -> an HDF5 grid-features file, in constant memory and resumable.

Images are decoded and run through the backbone a batch at a time; features are stored in
float16 (half the disk; read back as float32). The file grows under ``OUT.partial``: a run
that is killed leaves it there and the next run with the same backbone continues where it
stopped; the finished file appears under ``OUT`` only when every image is in. Its attribute
``backbone`` records the backbone and its preprocessing (``features/backbones.py``).
"""
import sys

import numpy as np

from saic_fairseq.errors import SAICInputError
from saic_fairseq.features.backbones import DEFAULT_BACKBONE
from saic_fairseq.features.feature_writer import FeatureWriter
from saic_fairseq.features.grid_features import GridFeatureExtractor, load_image


def extract_features(pairs, out, backbone=DEFAULT_BACKBONE, batch_size=16, device="cpu", strict=False,
                     weights=True):
    """Write the grid features of ``pairs`` [(image path, image id)] to ``out``.

    A file that is not a readable image is named on stderr and skipped (``strict``: the
    SAICInputError naming it is raised, and what was written so far stays in ``OUT.partial``).
    Returns ``(images in the file, [(path, image id, error)] skipped)``.
    """
    from tqdm import tqdm

    extractor = GridFeatureExtractor(device, backbone, weights)
    attrs = {"backbone": extractor.spec.to_json()}
    skipped = []
    with FeatureWriter(out, dim=extractor.spec.feature_dim, source=out, dtype=np.float16, attrs=attrs,
                       resume=True) as writer:
        todo = [(path, image_id) for path, image_id in pairs if int(image_id) not in writer.done]
        with tqdm(total=len(pairs), initial=len(pairs) - len(todo), unit="image", file=sys.stderr,
                  desc=f"{extractor.spec.name} -> {out}") as bar:
            for start in range(0, len(todo), batch_size):
                chunk, loaded = todo[start : start + batch_size], []
                for path, image_id in chunk:
                    try:
                        loaded.append((path, image_id, load_image(path)))
                    except SAICInputError as err:
                        if strict:
                            raise
                        skipped.append((path, image_id, err))
                        bar.write(f"warning: {err}; skipped", file=sys.stderr)
                if loaded:
                    for (path, image_id, _), (features, boxes) in zip(loaded, extractor([a for _, _, a in loaded])):
                        writer.add(image_id, features, boxes, where=f"image id {image_id} ({path})")
                bar.update(len(chunk))
        if not writer.done:
            raise SAICInputError(out, None, "no readable image to extract features from")
    return len(writer.done), skipped

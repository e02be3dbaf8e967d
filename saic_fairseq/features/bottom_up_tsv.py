"""Read the bottom-up-attention TSV format (Anderson et al. 2018).

One image per line, tab-separated: image_id, image_w, image_h, num_boxes, boxes, features;
``boxes`` and ``features`` are base64 float32 arrays (num_boxes x 4, num_boxes x D).
"""
import base64
import binascii
import csv
import sys

import numpy as np

from saic_fairseq.errors import SAICInputError

FIELDS = ["image_id", "image_w", "image_h", "num_boxes", "boxes", "features"]


def _decode(path, where, row, name, num_boxes):
    try:
        array = np.frombuffer(base64.b64decode(row[name], validate=True), dtype=np.float32)
    except (binascii.Error, ValueError) as err:
        raise SAICInputError(path, where, f"field {name!r} is not valid base64: {err}")
    if num_boxes == 0 or array.size % num_boxes:
        raise SAICInputError(path, where, f"field {name!r} holds {array.size} floats, not num_boxes={num_boxes} rows")
    return array.reshape(num_boxes, -1)


def read_bottom_up_tsv(path):
    """Yield (image_id, features (R, D), boxes (R, 4) normalised to the image, where)."""
    csv.field_size_limit(sys.maxsize)
    with open(path, newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle, delimiter="\t", fieldnames=FIELDS), 1):
            where = f"line {number} (image id {row.get('image_id')})"
            try:
                image_id = int(row["image_id"])
                width, height = float(row["image_w"]), float(row["image_h"])
                num_boxes = int(row["num_boxes"])
            except (TypeError, ValueError):
                raise SAICInputError(path, where, "image_id, image_w, image_h and num_boxes must be numbers")
            if row.get("features") is None:
                raise SAICInputError(path, where, f"expected {len(FIELDS)} tab-separated fields")
            boxes = _decode(path, where, row, "boxes", num_boxes)
            if boxes.shape[1] != 4:
                raise SAICInputError(path, where, f"boxes must be num_boxes x 4, got {boxes.shape}")
            features = _decode(path, where, row, "features", num_boxes)
            boxes = boxes / np.array([width, height, width, height], dtype=np.float32)
            yield image_id, features, boxes, where

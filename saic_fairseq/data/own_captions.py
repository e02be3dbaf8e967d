"""Your own data: a folder of images plus a captions file, as COCO-style split files.

Captions file: CSV with a header ``image,caption`` or JSON lines ``{"image": ..., "caption": ...}``;
``image`` is a file name inside the image folder; an image may have many captions.
Images are numbered 1, 2, ... in file-name order (the mapping is written to ``images.tsv``),
split into train / valid / test by a seeded shuffle, and tokenized like Karpathy's COCO split.
"""
import csv
import json
import os

import numpy as np

from saic_fairseq.atomic_write import atomic_open
from saic_fairseq.data.coco_captions import CaptionedImage, karpathy_tokenize, write_caption_split
from saic_fairseq.errors import SAICInputError


def read_caption_table(path, image_dir):
    """{image file name: [captions]} from a .csv or .jsonl file, every row checked."""
    rows = []
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            if path.endswith((".jsonl", ".json")):
                for number, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as err:
                        raise SAICInputError(path, f"line {number}", f"malformed JSON: {err.msg}")
                    if not isinstance(row, dict):
                        raise SAICInputError(path, f"line {number}", "expected an object with image and caption")
                    rows.append((number, row.get("image"), row.get("caption")))
            else:
                reader = csv.DictReader(handle)
                if not reader.fieldnames or not {"image", "caption"} <= set(reader.fieldnames):
                    raise SAICInputError(path, "line 1", "CSV header must name the columns image and caption")
                for row in reader:
                    rows.append((reader.line_num, row.get("image"), row.get("caption")))
    except UnicodeDecodeError as err:
        raise SAICInputError(path, f"byte {err.start}", "not UTF-8 text")
    captions = {}
    for number, image, caption in rows:
        where = f"line {number}"
        if not image or not isinstance(image, str):
            raise SAICInputError(path, where, "no image file name")
        if not os.path.isfile(os.path.join(image_dir, image)):
            raise SAICInputError(path, where, f"image {image!r} is not in {image_dir}")
        if not isinstance(caption, str) or not karpathy_tokenize(caption):
            raise SAICInputError(path, where, f"empty caption for {image!r}")
        captions.setdefault(image, []).append(caption.strip())
    if not captions:
        raise SAICInputError(path, None, "no captions")
    return captions


def split_own_data(captions, valid_fraction, test_fraction, seed):
    """-> ({split: [CaptionedImage]}, {image file: image id}); every split gets >= 1 image."""
    names = sorted(captions)
    ids = {name: number for number, name in enumerate(names, 1)}
    order = np.random.default_rng(seed).permutation(len(names))
    n_test = max(1, int(round(test_fraction * len(names))))
    n_valid = max(1, int(round(valid_fraction * len(names))))
    if len(names) < n_test + n_valid + 1:
        raise SAICInputError("captions", None, f"{len(names)} images cannot make train, valid and test splits")
    parts = {"test": order[:n_test], "valid": order[n_test : n_test + n_valid], "train": order[n_test + n_valid :]}
    splits = {}
    for split, indices in parts.items():
        chosen = sorted(names[i] for i in indices)
        splits[split] = [CaptionedImage(ids[n], captions[n], [karpathy_tokenize(c) for c in captions[n]])
                         for n in chosen]
    return splits, ids


def write_own_data(out_dir, splits, ids):
    for split, images in splits.items():
        write_caption_split(out_dir, split, images)
    with atomic_open(os.path.join(out_dir, "images.tsv")) as handle:
        handle.writelines(f"{name}\t{image_id}\n" for name, image_id in sorted(ids.items(), key=lambda x: x[1]))

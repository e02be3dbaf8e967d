"""Photos plus a captions file in one of the layouts people download, as COCO-style split files.

Captions layouts (told apart by the file itself):

    dataset_flickr8k.json, dataset_flickr30k.json, dataset_coco.json   Karpathy's split files:
                                          captions, tokens and the split every captioning paper uses
    Flickr8k.token.txt                    ``name.jpg#0<TAB>caption`` (the original Flickr8k/30k files)
    captions.txt / .csv                   CSV with a header ``image,caption`` (the Kaggle copy, your own)
    captions.jsonl                        JSON lines ``{"image": ..., "caption": ...}``

The split is the one the distribution defines: Karpathy's ``split`` field, or the official
lists ``Flickr_8k.{train,dev,test}Images.txt`` (any ``*trainImages.txt``, ``*devImages.txt``,
``*testImages.txt`` beside the captions file, or in ``split_lists``); images in no list are
left out. With neither, images are split by a seeded shuffle. Images are numbered 1, 2, ...
in file-name order (the mapping is written to ``images.tsv``), so every layout of one data set
gives the same ids, and captions are tokenized like Karpathy's COCO split.
"""
import csv
import glob
import json
import os
import re

import numpy as np

from saic_fairseq.atomic_write import atomic_open
from saic_fairseq.data.coco_captions import CaptionedImage, karpathy_tokenize, read_karpathy_json, write_caption_split
from saic_fairseq.errors import SAICInputError

#: our split name -> the suffix of Flickr's official list files
SPLIT_LISTS = {"train": "trainImages.txt", "valid": "devImages.txt", "test": "testImages.txt"}
TOKEN_LINE = re.compile(r"^([^\t#]+)#\d+\t(.*)$")


def _read_rows(path):
    """[(line, image file name, raw caption)] of a token, CSV or JSON-lines file."""
    rows = []
    with open(path, encoding="utf-8", newline="") as handle:
        first = handle.readline()
        handle.seek(0)
        if path.endswith(".jsonl"):
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
        elif TOKEN_LINE.match(first.rstrip("\r\n")):
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                match = TOKEN_LINE.match(line.rstrip("\r\n"))
                if not match:
                    raise SAICInputError(path, f"line {number}", "expected NAME.jpg#N<TAB>caption (Flickr8k.token.txt)")
                rows.append((number, match.group(1), match.group(2)))
        else:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"image", "caption"} <= set(reader.fieldnames):
                raise SAICInputError(path, "line 1", "CSV header must name the columns image and caption "
                                     "(or give NAME.jpg#N<TAB>caption lines, or Karpathy's dataset_*.json)")
            for row in reader:
                rows.append((reader.line_num, row.get("image"), row.get("caption")))
    return rows


def read_caption_table(path, image_dir):
    """{image file name: [captions]} from a token, CSV or JSON-lines file, every row checked."""
    try:
        rows = _read_rows(path)
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


def find_split_lists(folder):
    """{split: path} of the official list files in ``folder`` ({} if it has none; all three or an error)."""
    found = {}
    for split, suffix in SPLIT_LISTS.items():
        matches = sorted(glob.glob(os.path.join(glob.escape(folder), f"*{suffix}")))
        if len(matches) > 1:
            raise SAICInputError(folder, None, f"several *{suffix} files: {', '.join(map(os.path.basename, matches))}")
        if matches:
            found[split] = matches[0]
    if found and len(found) != len(SPLIT_LISTS):
        missing = [f"*{SPLIT_LISTS[s]}" for s in SPLIT_LISTS if s not in found]
        raise SAICInputError(folder, None, f"split lists incomplete: no {', '.join(missing)}")
    return found


def read_name_list(path):
    """The file names of a split list, one a line (blank lines skipped)."""
    with open(path, encoding="utf-8") as handle:
        return [(number, line.strip()) for number, line in enumerate(handle, 1) if line.strip()]


def number_images(names):
    """{file name: image id}: 1, 2, ... in file-name order."""
    return {name: number for number, name in enumerate(sorted(names), 1)}


def _captioned(ids, captions, names):
    return [CaptionedImage(ids[n], captions[n], [karpathy_tokenize(c) for c in captions[n]], n) for n in sorted(names)]


def split_by_lists(captions, lists):
    """{split: [CaptionedImage]} of the images each list names; an image without captions or in
    two lists is an error naming the list and line."""
    named, seen = {}, {}
    for split, path in lists.items():
        named[split] = []
        for number, name in read_name_list(path):
            if name not in captions:
                raise SAICInputError(path, f"line {number}", f"image {name!r} has no caption in the captions file")
            if name in seen:
                raise SAICInputError(path, f"line {number}", f"image {name!r} is also in {seen[name]}")
            seen[name] = os.path.basename(path)
            named[split].append(name)
    ids = number_images(seen)
    return {split: _captioned(ids, captions, names) for split, names in named.items()}


def split_own_data(captions, valid_fraction, test_fraction, seed):
    """{split: [CaptionedImage]} by a seeded shuffle; every split gets >= 1 image."""
    names = sorted(captions)
    ids = number_images(names)
    order = np.random.default_rng(seed).permutation(len(names))
    n_test = max(1, int(round(test_fraction * len(names))))
    n_valid = max(1, int(round(valid_fraction * len(names))))
    if len(names) < n_test + n_valid + 1:
        raise SAICInputError("captions", None, f"{len(names)} images cannot make train, valid and test splits")
    parts = {"test": order[:n_test], "valid": order[n_test : n_test + n_valid], "train": order[n_test + n_valid :]}
    return {split: _captioned(ids, captions, [names[i] for i in indices]) for split, indices in parts.items()}


def read_karpathy_layout(path, image_dir):
    """Karpathy's split file, images renumbered in file-name order, every file checked."""
    splits = read_karpathy_json(path)
    ids = number_images(image.file_name for images in splits.values() for image in images)
    out = {}
    for split, images in splits.items():
        for image in images:
            if not image.file_name:
                raise SAICInputError(path, f"image id {image.image_id}", "no filename")
            if not os.path.isfile(os.path.join(image_dir, image.file_name)):
                raise SAICInputError(path, f"image id {image.image_id}",
                                     f"image {image.file_name!r} is not in {image_dir}")
        out[split] = sorted((img._replace(image_id=ids[img.file_name]) for img in images), key=lambda i: i.image_id)
    return out


def read_own_data(captions_path, image_dir, split_lists=None, valid_fraction=0.1, test_fraction=0.1, seed=1):
    """``(splits, how)``: {split: [CaptionedImage]} of any layout above, and a line saying which
    split was used. ``split_lists``: the folder of the official lists (default: the captions
    file's); ``False``: a seeded shuffle even where lists exist."""
    if captions_path.endswith(".json"):
        return read_karpathy_layout(captions_path, image_dir), f"Karpathy's split ({os.path.basename(captions_path)})"
    captions = read_caption_table(captions_path, image_dir)
    lists = {} if split_lists is False else find_split_lists(split_lists or os.path.dirname(captions_path) or ".")
    if lists:
        names = ", ".join(map(os.path.basename, lists.values()))
        return split_by_lists(captions, lists), f"official split lists: {names}"
    how = f"a seeded shuffle (seed {seed}, valid {valid_fraction:g}, test {test_fraction:g}): no split lists"
    return split_own_data(captions, valid_fraction, test_fraction, seed), how


def write_own_data(out_dir, splits):
    """The split files and ``images.tsv`` (file name <TAB> image id)."""
    for split, images in splits.items():
        write_caption_split(out_dir, split, images)
    pairs = sorted((image.image_id, image.file_name) for images in splits.values() for image in images)
    with atomic_open(os.path.join(out_dir, "images.tsv")) as handle:
        handle.writelines(f"{name}\t{image_id}\n" for image_id, name in pairs)

"""COCO captions in, split files out: the text side of the data path (see docs/design.md, Data).

Inputs: Karpathy's ``dataset_coco.json``, or COCO's official ``captions_*2014.json`` files
plus one image-id list per split. Output per split, in one folder:

    {split}.txt        one tokenized caption per line (what fairseq-preprocess binarizes)
    {split}.ids        the image id of each line
    {split}.refs.json  {image id: [every raw caption of the image]} for evaluation
"""
import collections
import json
import os
import re
import zipfile

import numpy as np

from saic_fairseq.atomic_write import atomic_open
from saic_fairseq.errors import SAICInputError

# Karpathy's split lowercases and drops punctuation; words are what is left between spaces.
_NOT_WORD = re.compile(r"[^a-z0-9\s]")

#: Karpathy's split names -> ours (restval is training data, as in every COCO paper).
KARPATHY_SPLITS = {"train": "train", "restval": "train", "val": "valid", "test": "test"}


def karpathy_tokenize(raw):
    """``"A man's bike."`` -> ``["a", "mans", "bike"]``."""
    return _NOT_WORD.sub("", raw.lower()).split()


class CaptionedImage(collections.namedtuple("CaptionedImage", "image_id captions tokens file_name", defaults=(None,))):
    """One image: its id, its raw captions, each caption's tokens (same order), and its file
    name where the source gives one (relative to the image folder)."""


def load_json(path, handle=None):
    """json.load with an error that names the file, line and column."""
    try:
        if handle is None:
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        return json.load(handle)
    except json.JSONDecodeError as err:
        raise SAICInputError(path, f"line {err.lineno} column {err.colno}", f"malformed JSON: {err.msg}")
    except UnicodeDecodeError as err:
        raise SAICInputError(path, f"byte {err.start}", "not UTF-8 text")


def _checked_tokens(path, where, raw):
    if not isinstance(raw, str):
        raise SAICInputError(path, where, f"caption is not a string: {raw!r}")
    tokens = karpathy_tokenize(raw)
    if not tokens:
        raise SAICInputError(path, where, f"empty caption {raw!r}")
    return tokens


def read_karpathy_json(path):
    """Karpathy's ``dataset_{coco,flickr8k,flickr30k}.json`` -> {split: [CaptionedImage]} with
    train = train + restval. Image ids are COCO's (``cocoid``), else Karpathy's ``imgid``; file
    names are ``filepath/filename`` (COCO) or ``filename`` (Flickr)."""
    data = load_json(path)
    splits = collections.defaultdict(list)
    try:
        images = data["images"]
    except (KeyError, TypeError):
        raise SAICInputError(path, None, "no 'images' list: not a Karpathy dataset_*.json")
    for entry in images:
        image_id = entry.get("cocoid", entry.get("imgid"))
        where = f"image id {image_id}" + (f" ({entry['filename']})" if "filename" in entry else "")
        if image_id is None or "sentences" not in entry:
            raise SAICInputError(path, where, "an image entry needs cocoid or imgid, and sentences")
        split = KARPATHY_SPLITS.get(entry.get("split"))
        if split is None:
            raise SAICInputError(path, where, f"unknown split {entry.get('split')!r}")
        raws, tokens = [], []
        for sentence in entry["sentences"]:
            raw = sentence.get("raw", " ".join(sentence.get("tokens", [])))
            toks = [t.lower() for t in sentence.get("tokens", [])] or _checked_tokens(path, where, raw)
            if not toks:
                raise SAICInputError(path, where, f"empty caption {raw!r}")
            raws.append(raw.strip())
            tokens.append(toks)
        name = "/".join(p for p in (entry.get("filepath"), entry.get("filename")) if p) or None
        splits[split].append(CaptionedImage(int(image_id), raws, tokens, name))
    return dict(splits)


def read_coco_annotations(paths, opener=open, caption_to_image=None):
    """COCO ``captions_*.json`` files -> {image id: CaptionedImage}, images in id order.

    ``caption_to_image``, if a dict, is filled with {annotation id: image id}.
    """
    by_image = {}
    for path in paths:
        with opener(path) as handle:
            add_coco_annotations(by_image, path, load_json(path, handle), caption_to_image)
    return dict(sorted(by_image.items()))


def add_coco_annotations(by_image, path, data, caption_to_image=None):
    """Add the images and captions of one loaded COCO caption file (``path`` names it in
    errors) to ``by_image`` {image id: CaptionedImage}."""
    for ann in data.get("annotations", []):
        image_id = int(ann["image_id"])
        where = f"annotation id {ann.get('id')} (image id {image_id})"
        tokens = _checked_tokens(path, where, ann.get("caption"))
        image = by_image.setdefault(image_id, CaptionedImage(image_id, [], []))
        image.captions.append(ann["caption"].strip())
        image.tokens.append(tokens)
        if caption_to_image is not None:
            caption_to_image[int(ann["id"])] = image_id
    for img in data.get("images", []):
        by_image.setdefault(int(img["id"]), CaptionedImage(int(img["id"]), [], []))


def read_id_list(path):
    """A text file of image ids, one per line (blank lines and ``#`` comments skipped)."""
    ids = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            try:
                ids.append(int(text))
            except ValueError:
                raise SAICInputError(path, f"line {number}", f"not an image id: {text!r}")
    return ids


def select_split(by_image, ids, source):
    """The images named by ``ids`` (in that order); ``source`` names the id list in errors."""
    chosen = []
    for image_id in ids:
        image = by_image.get(image_id)
        if image is None:
            raise SAICInputError(source, f"image id {image_id}", "not in the caption annotations")
        if not image.captions:
            raise SAICInputError(source, f"image id {image_id}", "image has no captions")
        chosen.append(image)
    return chosen


def write_caption_split(out_dir, split, images):
    """Write ``{split}.txt``, ``{split}.ids`` and ``{split}.refs.json`` for ``images``."""
    os.makedirs(out_dir, exist_ok=True)
    prefix = os.path.join(out_dir, split)
    with atomic_open(prefix + ".txt") as txt, atomic_open(prefix + ".ids") as ids:
        for image in images:
            for tokens in image.tokens:
                txt.write(" ".join(tokens) + "\n")
                ids.write(f"{image.image_id}\n")
    with atomic_open(prefix + ".refs.json") as refs:
        json.dump({str(image.image_id): image.captions for image in images}, refs)


def read_image_ids(path, expected_lines=None):
    """The ``{split}.ids`` file: one integer image id per line."""
    if not os.path.exists(path):
        raise SAICInputError(path, None, "image-id file does not exist")
    ids = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            try:
                ids.append(int(line.strip()))
            except ValueError:
                raise SAICInputError(path, f"line {number}", f"not an image id: {line.strip()!r}")
    if expected_lines is not None and len(ids) != expected_lines:
        raise SAICInputError(path, None, f"{len(ids)} image ids for {expected_lines} caption lines")
    return np.asarray(ids, dtype=np.int64)


def first_line_of_each_image(image_ids):
    """Caption-line numbers that ``--unique-images`` keeps: the first line of every image."""
    _, first = np.unique(np.asarray(image_ids), return_index=True)
    return np.sort(first)


def coco_caption_files_in_jar(jar_path):
    """Openers for the COCO 2014 caption files that pycocoevalcap's SPICE jar carries."""
    names = ["coco/annotations/captions_train2014.json", "coco/annotations/captions_val2014.json"]
    archive = zipfile.ZipFile(jar_path)
    return [f"{jar_path}!{name}" for name in names], (lambda member: archive.open(member.split("!", 1)[1]))


def installed_spice_jar():
    """Path of pycocoevalcap's ``spice-1.0.jar`` (it holds the COCO 2014 caption files)."""
    from pycocoevalcap.spice import spice

    return os.path.join(os.path.dirname(spice.__file__), "spice-1.0.jar")

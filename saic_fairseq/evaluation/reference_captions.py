"""A split's references, read from our ``{split}.refs.json`` or from a COCO caption annotation
file (``captions_val2014.json``), tokenized the way training captions are, and looked up by
image id with an error that names the file and the id."""
import os

from saic_fairseq.data.coco_captions import add_coco_annotations, karpathy_tokenize, load_json
from saic_fairseq.errors import SAICInputError


def is_coco_annotations(data):
    return isinstance(data, dict) and isinstance(data.get("annotations"), list)


def read_references(path):
    """{image id as str: [raw captions]} of a refs.json file ({image id: [captions]}) or of a COCO
    annotation file ({"images": [...], "annotations": [{"image_id", "caption"}]}); images without
    a caption are left out."""
    data = load_json(path)
    if is_coco_annotations(data):
        images = {}
        add_coco_annotations(images, path, data)
        return {str(i): image.captions for i, image in sorted(images.items()) if image.captions}
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise SAICInputError(path, None, "expected {image id: [captions]} (a refs.json file) or a COCO caption "
                             "annotation file")
    return {str(k): v for k, v in data.items()}


def image_ids_by_file_name(path):
    """{file name: image id} of a COCO annotation file's ``images`` list."""
    data = load_json(path)
    images = data.get("images") if isinstance(data, dict) else None
    if not isinstance(images, list):
        raise SAICInputError(path, None, "not a COCO annotation file (no 'images' list)")
    try:
        return {os.path.basename(image["file_name"]): int(image["id"]) for image in images}
    except (KeyError, TypeError, ValueError) as err:
        raise SAICInputError(path, None, f"every entry of 'images' needs 'id' and 'file_name' ({err!r})")


class ReferenceCaptions:
    """``ReferenceCaptions(path)[image_id]`` -> every reference of the image as a tokenized string.

    Args:
        path: ``{split}.refs.json`` ({image id: [raw captions]}, written by the preprocess
            scripts) or a COCO caption annotation file.
        purpose: what needs the references (used in the error when the file is missing).
    """

    def __init__(self, path, purpose="scoring"):
        if not os.path.exists(path):
            raise SAICInputError(path, None, f"{purpose} needs the references of this split, and the file is missing; "
                                 "the preprocess scripts write {split}.refs.json beside the captions")
        self.path = path
        raw = read_references(path)
        if not raw:
            raise SAICInputError(path, None, "expected a non-empty JSON object {image id: [captions]}")
        self.by_image = {k: [" ".join(karpathy_tokenize(c)) for c in v] for k, v in raw.items()}

    def __getitem__(self, image_id):
        refs = self.by_image.get(str(int(image_id)))
        if not refs:
            raise SAICInputError(self.path, f"image id {int(image_id)}", "no references for this image")
        return refs

    def lookup(self, image_ids):
        """[[tokenized reference]] for an iterable of image ids."""
        return [self[i] for i in image_ids]

    def all(self):
        """Every image's references (the corpus of CIDEr-D's document frequencies)."""
        return list(self.by_image.values())

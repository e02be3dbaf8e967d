"""A split's references ({split}.refs.json), tokenized the way training captions are, and
looked up by image id with an error that names the file and the id."""
import os

from saic_fairseq.data.coco_captions import karpathy_tokenize, load_json
from saic_fairseq.errors import SAICInputError


class ReferenceCaptions:
    """``ReferenceCaptions(path)[image_id]`` -> every reference of the image as a tokenized string.

    Args:
        path: ``{split}.refs.json`` ({image id: [raw captions]}), written by the preprocess scripts.
        purpose: what needs the references (used in the error when the file is missing).
    """

    def __init__(self, path, purpose="scoring"):
        if not os.path.exists(path):
            raise SAICInputError(path, None, f"{purpose} needs the references of this split, and the file is missing; "
                                 "the preprocess scripts write {split}.refs.json beside the captions")
        self.path = path
        raw = load_json(path)
        if not isinstance(raw, dict) or not raw:
            raise SAICInputError(path, None, "expected a non-empty JSON object {image id: [captions]}")
        self.by_image = {str(k): [" ".join(karpathy_tokenize(c)) for c in v] for k, v in raw.items()}

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

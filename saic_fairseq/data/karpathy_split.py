"""The Karpathy-style COCO split, built from installed packages only.

* captions: COCO 2014 caption files inside pycocoevalcap's ``spice-1.0.jar``;
* test: the 5,000 Karpathy test images, from the caption ids ``eccv-caption`` ships;
* valid: 5,000 other val2014 images drawn with a fixed seed (no package lists Karpathy's own
  val ids, so this split is Karpathy-*style*: same sizes, a different val/train cut);
* train: every other image (train2014 + the rest of val2014 = Karpathy's train + restval).
"""
import os

import numpy as np

from saic_fairseq.data.coco_captions import coco_caption_files_in_jar, installed_spice_jar, read_coco_annotations

VALID_IMAGES = 5000


def karpathy_test_image_ids(caption_to_image):
    """Image ids of the Karpathy test split (eccv-caption lists its 25,000 caption ids)."""
    import eccv_caption

    path = os.path.join(os.path.dirname(eccv_caption.__file__), "data", "coco_test_ids.npy")
    caption_ids = np.load(path)
    return sorted({caption_to_image[int(c)] for c in caption_ids})


def build_karpathy_style_split(jar_path=None, seed=0):
    """{"train", "valid", "test"} -> [CaptionedImage], from the installed packages."""
    names, opener = coco_caption_files_in_jar(jar_path or installed_spice_jar())
    caption_to_image = {}
    train2014 = read_coco_annotations([names[0]], opener, caption_to_image)
    val2014 = read_coco_annotations([names[1]], opener, caption_to_image)
    test_ids = karpathy_test_image_ids(caption_to_image)
    test_set = set(test_ids)
    pool = [i for i in val2014 if i not in test_set]
    valid_ids = sorted(np.random.default_rng(seed).choice(pool, VALID_IMAGES, replace=False).tolist())
    held = test_set | set(valid_ids)
    by_image = {**train2014, **val2014}
    train_ids = [i for i in sorted(by_image) if i not in held]
    return {
        "train": [by_image[i] for i in train_ids],
        "valid": [by_image[i] for i in valid_ids],
        "test": [by_image[i] for i in test_ids],
    }

"""The *text-proxy* default data set: real COCO captions, with proxy "image features".

No COCO images or region features can be downloaded here, so each image gets features
derived from one of its own captions that is **held out** (never a training target, never a
reference): one "region" per content word, a fixed seeded random embedding of the word plus
Gaussian noise. It is a stand-in for visual features, not a replacement: it lets the whole
pipeline train and be measured on real language at real scale.
"""
import zlib

import numpy as np

from saic_fairseq.data.coco_captions import CaptionedImage

# Function words carry no "visual" content; they get no region.
STOPWORDS = frozenset(
    "a an the of on in with and is are to at its it his her their by for from as near next some "
    "that this there while into onto up down out over under".split()
)


def word_vector(word, dim, seed):
    """The fixed embedding of ``word``: a standard-normal vector seeded by (seed, word)."""
    return np.random.default_rng([seed, zlib.crc32(word.encode("utf-8"))]).standard_normal(dim).astype(np.float32)


def proxy_features(tokens, dim, seed, noise, rng):
    """(R, dim) features of one held-out caption: one noisy word vector per content word."""
    words = [w for w in tokens if w not in STOPWORDS] or list(tokens)
    clean = np.stack([word_vector(w, dim, seed) for w in words])
    return clean + noise * rng.standard_normal(clean.shape).astype(np.float32)


def hold_out_one_caption(images, seed):
    """Split off one caption per image: -> ([CaptionedImage without it], {image id: its tokens})."""
    rng = np.random.default_rng(seed)
    kept, held = [], {}
    for image in images:
        pick = int(rng.integers(len(image.captions)))
        held[image.image_id] = image.tokens[pick]
        keep = [j for j in range(len(image.captions)) if j != pick]
        kept.append(CaptionedImage(image.image_id, [image.captions[j] for j in keep], [image.tokens[j] for j in keep]))
    return kept, held


def write_text_proxy(out_dir, splits, counts, dim=64, noise=0.5, seed=1):
    """Sample ``counts[split]`` images of each split, hold out one caption each, and write
    ``features.h5`` plus the caption split files into ``out_dir``. Returns {split: images}."""
    import os

    from tqdm import tqdm

    from saic_fairseq.data.coco_captions import write_caption_split
    from saic_fairseq.features.feature_writer import FeatureWriter

    # one random stream per split: a split's images and features do not depend on the others'
    # sizes (more test images leave the training data, and so a trained model, unchanged)
    streams = {name: np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))]) for name in splits}
    chosen = {}
    for name, images in splits.items():
        pick = np.sort(streams[name].choice(len(images), min(counts[name], len(images)), replace=False))
        chosen[name] = hold_out_one_caption([images[i] for i in pick], seed)
    with FeatureWriter(os.path.join(out_dir, "features.h5"), dim, source="text proxy") as writer:
        for name, (images, held) in chosen.items():
            for image in tqdm(images, desc=f"proxy features ({name})"):
                writer.add(image.image_id, proxy_features(held[image.image_id], dim, seed, noise, streams[name]))
    for name, (images, _) in chosen.items():
        write_caption_split(out_dir, name, images)
    return {name: images for name, (images, _) in chosen.items()}

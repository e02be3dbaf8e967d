"""Per-sentence random draws that depend only on (seed, update, sample id, stream).

The criterion's choices for a sentence (raw or teacher caption; group-aware or not) are a
pure function of the sentence and the update number, never of which other sentences share its
batch or its worker: a resumed run, a run with gradient accumulation and a run split over many
processes all make the same choices for the same sentence.
"""
import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x):
    """SplitMix64's finaliser (Steele et al. 2014): a well-mixed 64-bit hash of ``x``."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def sentence_uniforms(seed, update, sample_ids, stream):
    """(N,) floats in [0, 1): one draw per sample id for ``stream`` (0, 1, ...)."""
    ids = np.asarray(sample_ids, dtype=np.int64).astype(np.uint64)
    h = _splitmix64(np.full(ids.shape, seed, dtype=np.uint64))
    for value in (np.uint64(update), ids, np.uint64(stream)):
        h = _splitmix64(h ^ value)
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53


def masked_words(seed, update, sample_ids, lengths, width, stream):
    """(N, width) bool: the words a CMLM-style sample hides (Ghazvininejad et al. 2019,
    mask-predict's training): for a sentence of n words, a count uniform in 1..n, then that
    many of its words chosen uniformly. Uses streams ``stream`` (count) and ``stream + 1 + i``
    (word i); like every draw here, a function of (seed, update, sample id) only.

    Args:
        sample_ids: (N,) ids; lengths: (N,) words per sentence (<= width).
    """
    ids = np.asarray(sample_ids, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    counts = 1 + np.floor(sentence_uniforms(seed, update, ids, stream) * lengths).astype(np.int64)
    order = np.stack([sentence_uniforms(seed, update, ids, stream + 1 + i) for i in range(width)], axis=1)
    words = np.arange(width)[None, :] < lengths[:, None]
    order[~words] = np.inf
    rank = order.argsort(axis=1).argsort(axis=1)
    return (rank < counts[:, None]) & words

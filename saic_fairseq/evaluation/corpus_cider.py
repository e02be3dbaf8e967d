"""CIDEr-D with document frequencies fixed from a reference corpus, computed once.

pycocoevalcap's CIDEr-D takes its document frequencies from the images being scored, which
makes a batch's score depend on the batch. For checkpoint selection and SCST rewards the
frequencies come from a whole split's references instead (as the standard SCST code does);
every n-gram, tf-idf and Gaussian length penalty computation is pycocoevalcap's own.
"""
import hashlib
import json
import logging
import os
from collections import defaultdict

import numpy as np
from pycocoevalcap.cider.cider_scorer import CiderScorer, cook_refs

from saic_fairseq.atomic_write import atomic_open

logger = logging.getLogger(__name__)


class _FixedCorpusCiderScorer(CiderScorer):
    # pycocoevalcap sets ref_len = log(#images scored) inside compute_cider; here it is the
    # corpus size, so the assignment is ignored.
    ref_len = property(lambda self: self._corpus_ref_len, lambda self, value: None)

    def compute_doc_freq(self):
        """Document frequencies are the corpus's, given at construction."""

    def compute_score(self, option=None, verbose=0):
        score = self.compute_cider()
        return float(np.mean(score)), np.asarray(score)


class CorpusCiderD:
    """``CorpusCiderD(reference_corpus).scores(captions, references)`` -> per-caption CIDEr-D.

    Args:
        reference_corpus: iterable of reference lists (one list of tokenized strings per
            image) that define the document frequencies, e.g. a split's references.
    """

    def __init__(self, reference_corpus, n=4, sigma=6.0):
        self.n, self.sigma = n, sigma
        self.document_frequency = defaultdict(float)
        count = 0
        for refs in reference_corpus:
            for ngram in {ngram for ref in cook_refs(refs, n) for ngram in ref}:
                self.document_frequency[ngram] += 1
            count += 1
        self.images = count
        self.ref_len = np.log(float(count))

    @classmethod
    def cached(cls, references, cache_path, n=4, sigma=6.0):
        """The document frequencies of ``references`` (a ReferenceCaptions), computed once and
        kept in ``cache_path`` (JSON, written atomically); the cache is recomputed when the
        references file changes (its SHA-1 is stored with it)."""
        with open(references.path, "rb") as handle:
            digest = hashlib.sha1(handle.read()).hexdigest()
        if os.path.exists(cache_path):
            with open(cache_path, encoding="utf-8") as handle:
                cache = json.load(handle)
            if cache.get("references_sha1") == digest and cache.get("n") == n:
                scorer = cls([], n, sigma)
                scorer.document_frequency.update((tuple(k.split(" ")), v) for k, v in cache["df"].items())
                scorer.images, scorer.ref_len = cache["images"], np.log(float(cache["images"]))
                logger.info(f"CIDEr-D document frequencies of {scorer.images} images read from {cache_path}")
                return scorer
        scorer = cls(references.all(), n, sigma)
        with atomic_open(cache_path) as handle:
            json.dump({"references": references.path, "references_sha1": digest, "n": n, "images": scorer.images,
                       "df": {" ".join(k): v for k, v in scorer.document_frequency.items()}}, handle)
        logger.info(f"CIDEr-D document frequencies of {scorer.images} images written to {cache_path}")
        return scorer

    def scores(self, captions, references):
        """captions: [tokenized string]; references: [[tokenized string]] -> (N,) CIDEr-D."""
        scorer = _FixedCorpusCiderScorer(n=self.n, sigma=self.sigma)
        scorer._corpus_ref_len = self.ref_len
        scorer.document_frequency = self.document_frequency
        for caption, refs in zip(captions, references):
            scorer += (caption, refs)
        return scorer.compute_score()[1]

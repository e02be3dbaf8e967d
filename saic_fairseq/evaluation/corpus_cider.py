"""CIDEr-D with document frequencies fixed from a reference corpus, computed once.

pycocoevalcap's CIDEr-D takes its document frequencies from the images being scored, which
makes a batch's score depend on the batch. For checkpoint selection and SCST rewards the
frequencies come from a whole split's references instead (as the standard SCST code does);
every n-gram, tf-idf and Gaussian length penalty computation is pycocoevalcap's own.
"""
from collections import defaultdict

import numpy as np
from pycocoevalcap.cider.cider_scorer import CiderScorer, cook_refs


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
        self.ref_len = np.log(float(count))

    def scores(self, captions, references):
        """captions: [tokenized string]; references: [[tokenized string]] -> (N,) CIDEr-D."""
        scorer = _FixedCorpusCiderScorer(n=self.n, sigma=self.sigma)
        scorer._corpus_ref_len = self.ref_len
        scorer.document_frequency = self.document_frequency
        for caption, refs in zip(captions, references):
            scorer += (caption, refs)
        return scorer.compute_score()[1]

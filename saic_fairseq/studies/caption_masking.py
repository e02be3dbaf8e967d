"""Which words of a caption are hidden in the masking study (paper Sec. 3.2, Fig. 2).

For a caption of N words and a masking rate p, N_mask = max(1, floor(N * p)) words are masked:
* ``head`` / ``tail``: the first / last N_mask words;
* ``random``: N_mask positions drawn uniformly (a seeded numpy Generator);
* ``group``: the caption is cut into G = N - N_mask groups of (nearly) equal length and every
  word but the first of each group is masked. With N_mask = N (1 - 1/k) the groups are exactly
  SAIC's groups of k words (paper eq. 5); other rates give groups of about 1 / (1 - p) words.
"""
import numpy as np

METHODS = ("head", "tail", "random", "group")


def masked_count(length, rate):
    """N_mask = max(1, floor(N * p)), at most N."""
    return min(length, max(1, int(length * rate + 1e-9)))


def mask_positions(method, length, rate, rng=None):
    """(N,) bool array, True at the masked words of a caption of ``length`` words."""
    n_mask = masked_count(length, rate)
    masked = np.zeros(length, dtype=bool)
    if method == "head":
        masked[:n_mask] = True
    elif method == "tail":
        masked[length - n_mask:] = True
    elif method == "random":
        if rng is None:
            raise ValueError("random masking needs a numpy Generator (rng)")
        masked[rng.choice(length, n_mask, replace=False)] = True
    elif method == "group":
        groups = max(1, length - n_mask)
        masked[:] = True
        masked[(np.arange(groups) * length) // groups] = False
    else:
        raise ValueError(f"unknown masking method {method!r}; choose from {METHODS}")
    return masked

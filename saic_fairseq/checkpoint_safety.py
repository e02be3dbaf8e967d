"""Load fairseq checkpoints with torch's ``weights_only=True`` kept on.

torch >= 2.6 unpickles checkpoints with an allow-list. fairseq 0.12 checkpoints hold one type
beyond torch's defaults: ``argparse.Namespace`` (the legacy ``args``; ``cfg`` is a plain
dict). We allow exactly the types listed here, found by reading the pickles of checkpoints
that ``fairseq-train`` writes for our models (``tests/test_checkpoint_safety.py`` checks the
list against a real checkpoint); anything else in a checkpoint is refused by torch, not run.
"""
import argparse

import torch

FAIRSEQ_CHECKPOINT_TYPES = [argparse.Namespace]


def allow_fairseq_checkpoint_types():
    """Add the fairseq checkpoint types to torch's weights_only allow-list (idempotent)."""
    torch.serialization.add_safe_globals(FAIRSEQ_CHECKPOINT_TYPES)

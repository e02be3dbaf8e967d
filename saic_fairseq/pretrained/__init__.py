"""The model that ships with the package: SAIC trained on Flickr8k (see README.md here).

``SAICCaptioner.from_pretrained()`` and ``saic-caption`` without ``--path`` load it; it was
written by ``saic-export`` from the last checkpoint of ``examples/flickr8k/run.sh`` (its
2026-12-02 settings: README.md here).
"""
import os

from saic_fairseq.errors import SAICInputError

SHIPPED_MODEL_FILE = "flickr8k_saic.pt"


def shipped_model():
    """Path of the shipped checkpoint (a clear error if this copy of the package lacks it)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), SHIPPED_MODEL_FILE)
    if not os.path.isfile(path):
        raise SAICInputError(path, None, "the shipped model is missing from this copy of saic_fairseq: give --path "
                             "(a checkpoint you trained) or reinstall the package")
    return path

"""Check a checkpoint before building a model from it: readable, safe, and ours."""
import os
import pickle
import zipfile

import torch

from saic_fairseq.errors import SAICInputError


def _get(config, key):
    if config is None:
        return None
    return config.get(key) if isinstance(config, dict) else getattr(config, key, None)


def check_checkpoint(path):
    """Raise SAICInputError naming ``path`` unless it is a readable ``saic_transformer``
    checkpoint holding only allow-listed types; returns the data directory and feature file
    saved in it, ``{"data": ..., "features": ...}`` (None where not saved)."""
    state = load_checked_state(path)
    task = _get(state.get("cfg") or {}, "task")
    return {key: _get(task, key) or _get(state.get("args"), key) or None for key in ("data", "features")}


def load_checked_state(path):
    """The state dict of ``path`` (on the CPU), after the checks of :func:`check_checkpoint`."""
    from fairseq.models import ARCH_MODEL_REGISTRY

    import saic_fairseq  # noqa: F401  (the weights_only allow-list and the registrations)
    from saic_fairseq.models.saic_transformer import SAICTransformerModel

    if not os.path.isfile(path):
        raise SAICInputError(path, None, "checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = str(err).strip().splitlines()[0]
        raise SAICInputError(path, None, f"refused: it holds an object a fairseq checkpoint never does ({reason})")
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as err:
        raise SAICInputError(path, None, f"not a readable checkpoint (corrupt or truncated): {err}")
    if not isinstance(state, dict) or "model" not in state:
        raise SAICInputError(path, None, "not a fairseq checkpoint (no 'model' state)")
    cfg = state.get("cfg") or {}
    model_cfg = _get(cfg, "model") or state.get("args")
    arch = _get(model_cfg, "arch") or _get(model_cfg, "_name")
    if ARCH_MODEL_REGISTRY.get(arch) is not SAICTransformerModel:
        raise SAICInputError(path, None, f"a checkpoint of architecture {arch!r}, not of saic_transformer")
    return state

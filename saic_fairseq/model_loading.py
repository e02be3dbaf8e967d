"""Load a trained checkpoint with its task, pointed at a data directory and feature file."""


def load_model_for_split(checkpoint, data, features, split=None, device="cpu", **task_overrides):
    """(task, model in eval mode) of ``checkpoint``; ``split`` is loaded one sample per image.

    ``task_overrides`` replace task options saved in the checkpoint (e.g. ``group_size``).
    """
    from fairseq import checkpoint_utils

    overrides = {"data": data, "features": features, "unique_images": True, **task_overrides}
    models, _, task = checkpoint_utils.load_model_ensemble_and_task([checkpoint], arg_overrides=overrides)
    if split is not None:
        task.load_dataset(split)
    return task, models[0].to(device).eval()

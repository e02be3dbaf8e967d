"""Load a trained checkpoint with its task, pointed at a data directory and feature file."""


def load_model_for_split(checkpoint, data, features, split=None, device="cpu", **task_overrides):
    """(task, model in eval mode) of ``checkpoint``; ``split`` is loaded one sample per image.

    The dictionary is the one the checkpoint carries (its task state); ``data``'s dict.txt is
    read only for checkpoints without one. ``task_overrides`` replace task options saved in the
    checkpoint (e.g. ``group_size``).
    """
    from fairseq import checkpoint_utils, tasks

    overrides = {"data": data, "features": features, "unique_images": True, **task_overrides}
    state = checkpoint_utils.load_checkpoint_to_cpu(checkpoint, overrides)
    saved = (state.get("task_state") or {}).get("dictionary")
    task = tasks.setup_task(state["cfg"]["task"], from_checkpoint=True, dictionary_text=saved)
    models, _, task = checkpoint_utils.load_model_ensemble_and_task([checkpoint], arg_overrides=overrides, task=task,
                                                                     state=state)
    if split is not None:
        task.load_dataset(split)
    return task, models[0].to(device).eval()

"""saic-average: the mean of several checkpoints' weights, as one checkpoint (checkpoint
averaging: Vaswani et al., "Attention Is All You Need", NeurIPS 2017, averaged their last
checkpoints; fairseq's repository has scripts/average_checkpoints.py, which its wheel leaves out).

    saic-average --last 3 --dir runs/flickr8k/teacher --out runs/flickr8k/teacher/checkpoint_avg3.pt
    saic-average --last-updates 5 --dir runs/flickr8k/saic --out runs/flickr8k/saic/checkpoint_avg5.pt
    saic-average --inputs a.pt b.pt c.pt --out avg.pt

``--last N`` takes the N epoch checkpoints ``checkpointE.pt`` of largest E in ``--dir`` (what
``fairseq-train --keep-last-epochs N`` leaves there); ``--last-updates N`` the N latest of a
training saved every few updates (``--save-interval-updates``): its ``checkpoint_E_U.pt`` of
largest U, and ``checkpoint_last.pt`` where it holds a later update than all of them (fairseq
writes no ``checkpoint_E_U.pt`` at an update that ends an epoch). Every input must be a saic_transformer
checkpoint with the same weight names and shapes; the output is the last input's checkpoint
with its weights replaced by the mean (accumulated in float64, stored in each weight's own
type) and no optimizer state. It is written under a temporary name and renamed when complete.
"""
import argparse
import os
import re
import sys

from saic_fairseq.atomic_write import atomic_path
from saic_fairseq.cli import command
from saic_fairseq.errors import SAICInputError


def last_epoch_checkpoints(directory, n):
    """The paths of the ``n`` checkpointE.pt of largest E in ``directory``, oldest first."""
    epochs = sorted(int(m.group(1)) for name in (os.listdir(directory) if os.path.isdir(directory) else [])
                    if (m := re.fullmatch(r"checkpoint(\d+)\.pt", name)))
    if len(epochs) < n:
        raise SAICInputError(directory, None, f"--last {n} needs {n} epoch checkpoints (checkpointN.pt), "
                                              f"found {len(epochs)}: train with --keep-last-epochs {n}")
    return [os.path.join(directory, f"checkpoint{e}.pt") for e in epochs[-n:]]


def last_update_checkpoints(directory, n):
    """The paths of the ``n`` latest checkpoints saved every few updates in ``directory``, oldest
    first: ``checkpoint_E_U.pt`` by U, with ``checkpoint_last.pt`` as the latest when its update
    count is above all of theirs."""
    from saic_fairseq.checkpoint_inspection import load_checked_state

    names = os.listdir(directory) if os.path.isdir(directory) else []
    saved = {int(m.group(2)): os.path.join(directory, name)
             for name in names if (m := re.fullmatch(r"checkpoint_(\d+)_(\d+)\.pt", name))}
    last = os.path.join(directory, "checkpoint_last.pt")
    if os.path.isfile(last):
        updates = load_checked_state(last)["optimizer_history"][-1]["num_updates"]
        if not saved or updates > max(saved):
            saved[updates] = last
    if len(saved) < n:
        raise SAICInputError(directory, None, f"--last-updates {n} needs {n} checkpoints saved every few updates "
                                              f"(checkpoint_E_U.pt and checkpoint_last.pt), found {len(saved)}: "
                                              f"train with --save-interval-updates")
    return [saved[u] for u in sorted(saved)[-n:]]


def average_states(paths):
    """The last checkpoint's state with ``model`` the mean of every checkpoint's weights."""
    from saic_fairseq.checkpoint_inspection import load_checked_state

    sums, state = None, None
    for path in paths:
        state = load_checked_state(path)
        weights = state["model"]
        if sums is None:
            sums = {k: v.double() if v.is_floating_point() else v.clone() for k, v in weights.items()}
            reference = paths[0]
            continue
        if weights.keys() != sums.keys():
            missing = sorted(set(sums) ^ set(weights))[:3]
            raise SAICInputError(path, None, f"its weights differ in name from {reference}'s ({', '.join(missing)})")
        for key, value in weights.items():
            if value.shape != sums[key].shape:
                raise SAICInputError(path, None, f"weight {key} has shape {tuple(value.shape)}, "
                                                 f"{tuple(sums[key].shape)} in {reference}")
            if value.is_floating_point():
                sums[key] += value.double()
    dtypes = {k: v.dtype for k, v in state["model"].items()}
    averaged = {k: (v / len(paths)).to(dtypes[k]) if v.is_floating_point() else v for k, v in sums.items()}
    out = {key: value for key, value in state.items() if key != "last_optimizer_state"}
    out["model"] = averaged
    return out


@command
def main(argv=None):
    parser = argparse.ArgumentParser(prog="saic-average", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--inputs", nargs="+", help="the checkpoints to average")
    source.add_argument("--last", type=int, help="the last N epoch checkpoints (checkpointE.pt) of --dir")
    source.add_argument("--last-updates", type=int, help="the last N checkpoints saved every few updates "
                                                          "(checkpoint_E_U.pt, checkpoint_last.pt) of --dir")
    parser.add_argument("--dir", help="with --last or --last-updates: the training's --save-dir")
    parser.add_argument("--out", required=True, help="the averaged checkpoint")
    args = parser.parse_args(argv)
    if args.last is not None or args.last_updates is not None:
        option, n = ("--last", args.last) if args.last is not None else ("--last-updates", args.last_updates)
        if not args.dir or n < 1:
            parser.error(f"{option} N needs N >= 1 and --dir")
        find = last_epoch_checkpoints if args.last is not None else last_update_checkpoints
        paths = find(args.dir, n)
    else:
        paths = args.inputs
    import torch

    state = average_states(paths)
    with atomic_path(args.out) as tmp:
        torch.save(state, tmp)
    print(f"wrote {args.out}: the mean of {len(paths)} checkpoints ({', '.join(os.path.basename(p) for p in paths)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

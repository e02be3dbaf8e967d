"""saic-export: a trained checkpoint -> a small one to ship: weights in float16, no optimizer
state, no paths of the machine it was trained on, and the decoding it captions with by default.

    saic-export --path runs/flickr8k/saic/checkpoint_last.pt --out saic_fairseq/pretrained/flickr8k_saic.pt \\
        --outline-beam 1 --fill-beam 1 --max-mb 20

The result loads like any checkpoint (saic-caption --path, SAICCaptioner.from_pretrained),
carries its dictionary and backbone, and decodes in float32 on a CPU (the float16 weights are
widened when loaded). It is written under a temporary name and renamed when complete.
"""
import argparse
import os
import sys

from saic_fairseq.atomic_write import atomic_path
from saic_fairseq.cli import command
from saic_fairseq.errors import SAICInputError


def slim_state(state, decoding):
    """The state to ship: float16 weights, no optimizer state (fairseq's loader still wants the
    small bookkeeping entries), the task's data paths blanked and ``decoding`` (task options)
    as its decoding defaults."""
    slim = {key: value for key, value in state.items() if key != "last_optimizer_state"}
    slim["model"] = {k: v.half() if v.is_floating_point() else v for k, v in state["model"].items()}
    slim["optimizer_history"] = state.get("optimizer_history", [])[-1:]
    task = dict(slim["cfg"]["task"])
    task.update(data="", features="", **decoding)
    slim["cfg"] = {**slim["cfg"], "task": task}
    return slim


@command
def main(argv=None):
    parser = argparse.ArgumentParser(prog="saic-export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", required=True, help="the trained checkpoint")
    parser.add_argument("--out", required=True, help="the checkpoint to ship")
    parser.add_argument("--decoding", default="saic", choices=["aic", "saic", "naic", "ir-naic"],
                        help="default decoding mode of the shipped model")
    parser.add_argument("--outline-beam", type=int, default=1, help="its default M_out")
    parser.add_argument("--fill-beam", type=int, default=1, help="its default M_fill")
    parser.add_argument("--max-mb", type=float, default=20.0, help="refuse to write a larger file")
    args = parser.parse_args(argv)
    import torch

    from saic_fairseq.checkpoint_inspection import load_checked_state

    state = load_checked_state(args.path)
    if "backbone" not in (state.get("task_state") or {}):
        raise SAICInputError(args.path, None, "no backbone is recorded in this checkpoint: it cannot caption photos")
    slim = slim_state(state, dict(decoding=args.decoding, outline_beam=args.outline_beam, fill_beam=args.fill_beam))
    with atomic_path(args.out) as tmp:
        torch.save(slim, tmp)
        size = os.path.getsize(tmp) / 2**20
        if size > args.max_mb:
            raise SAICInputError(args.path, None, f"exported model is {size:.1f} MB, over --max-mb {args.max_mb:g}")
    print(f"wrote {args.out} ({size:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

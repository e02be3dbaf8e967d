"""saic-benchmark: latency and quality of every decoding mode of one checkpoint, in one run.

    saic-benchmark --data data/proxy --path runs/saic/checkpoint_best.pt --images 200 \
        --json bench.json --plot bench.png

Each mode (the paper's Table 2: AIC beam 5 and 1; SAIC M_out/M_fill 5/5, 5/1, 1/1; NAIC;
IR-NAIC I = 3 and 5) captions the same test images at batch size 1 (``--batch-size`` for
throughput) after ``--warmup`` images, timing the whole ``generate`` call (encoder
included, data loading excluded). Reported per mode: latency mean / p50 / p90, speed-up vs
AIC beam 5 and beam 1, decoder calls per caption and their bound (AIC N + 1, SAIC
ceil((N+1)/k) + 1, NAIC 1, IR-NAIC I), time per decoder call, and COCO metrics.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

from saic_fairseq.atomic_write import atomic_open
from saic_fairseq.cli import setup_logging
from saic_fairseq.cli.png_figure import pyplot, save_png
from saic_fairseq.cli.text_table import format_table
from saic_fairseq.errors import SAICInputError

#: (label, --decoding, beam, outline_beam, fill_beam, iterations)
TABLE2_MODES = [
    ("AIC b5", "aic", 5, None, None, None),
    ("AIC b1", "aic", 1, None, None, None),
    ("SAIC 5/5", "saic", None, 5, 5, None),
    ("SAIC 5/1", "saic", None, 5, 1, None),
    ("SAIC 1/1", "saic", None, 1, 1, None),
    ("NAIC", "naic", None, None, 1, None),
    ("IR-NAIC I=3", "ir-naic", None, None, 1, 3),
    ("IR-NAIC I=5", "ir-naic", None, None, 1, 5),
]
QUALITY = ["BLEU-1", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"]
COLUMNS = ["mode", "ms mean", "ms p50", "ms p90", "x vs AIC b5", "x vs AIC b1", "calls", "bound", "ms/call",
           "captions/s"] + QUALITY


def step_bound(decoding, words, group_size, iterations):
    """Sequential decoder calls the mode needs for a caption of ``words`` words."""
    if decoding == "aic":
        return words + 1
    if decoding == "saic":
        return math.ceil((words + 1) / group_size) + 1
    return 1 if decoding == "naic" else iterations


def time_mode(task, model, batches, mode, warmup, device):
    """Caption every batch with one mode: per-batch seconds, decoder calls, {image id: caption}."""
    from saic_fairseq.generators import build_caption_generator
    from saic_fairseq.generators.decoder_call_counter import DecoderCallCounter

    label, decoding, beam, outline_beam, fill_beam, iterations = mode
    gen_args = argparse.Namespace(beam=beam or 1)
    generator = build_caption_generator(task, [model], gen_args, decoding, outline_beam, fill_beam, iterations)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for sample in batches[:warmup]:
        generator.generate([model], sample)
    seconds, calls, captions = [], [], {}
    eos = task.target_dictionary.eos()
    with torch.no_grad():
        for sample in batches:
            with DecoderCallCounter(model.decoder) as counter:
                sync()
                start = time.perf_counter()
                hypos = generator.generate([model], sample)
                sync()
                seconds.append(time.perf_counter() - start)
            calls.append(counter.count)
            for image_id, sentence in zip(sample["image_id"].tolist(), hypos):
                captions[image_id] = task.target_dictionary.string(sentence[0]["tokens"], extra_symbols_to_ignore={eos})
    return np.asarray(seconds), np.asarray(calls), captions


def run_benchmark(task, model, split, images, batch_size, warmup, device, modes=TABLE2_MODES, quality=True):
    """Rows of the benchmark table (dicts with COLUMNS), in ``modes`` order."""
    from fairseq import utils

    from saic_fairseq.data.coco_captions import load_json
    from saic_fairseq.evaluation.coco_metrics import coco_scores

    dataset = task.dataset(split)
    count = min(images, len(dataset))
    batches = [utils.apply_to_sample(lambda t: t.to(device), b) for b in dataset.batches(count, batch_size)]
    references = load_json(os.path.join(task.cfg.data, f"{split}.refs.json")) if quality else None
    rows = []
    for mode in modes:
        seconds, calls, captions = time_mode(task, model, batches, mode, warmup, device)
        words = [len(c.split()) for c in captions.values()]
        bound = np.mean([step_bound(mode[1], n, task.cfg.group_size, mode[5] or task.cfg.iterations) for n in words])
        row = {"mode": mode[0], "ms mean": 1000 * seconds.mean(), "ms p50": 1000 * np.percentile(seconds, 50),
               "ms p90": 1000 * np.percentile(seconds, 90), "calls": float(calls.mean()), "bound": float(bound),
               "ms/call": 1000 * seconds.sum() / calls.sum(), "captions/s": count / seconds.sum()}
        if quality:
            scores, _, _ = coco_scores(references, {str(k): v for k, v in captions.items()}, spice=False)
            row.update({m: 100 * scores[m] for m in QUALITY})
        row["captions"] = {str(k): v for k, v in captions.items()}
        rows.append(row)
    by_label = {r["mode"]: r for r in rows}
    for row in rows:
        for ref in ("AIC b5", "AIC b1"):
            if ref in by_label:
                row[f"x vs {ref}"] = by_label[ref]["ms mean"] / row["ms mean"]
    return rows


def example_captions(rows, references, count):
    """Fig. 4: for the first ``count`` images, the references beside every mode's caption."""
    ids = list(rows[0]["captions"])[:count]
    return [{"image id": i, "references": references[i], **{r["mode"]: r["captions"][i] for r in rows}} for i in ids]


def format_examples(examples):
    """Plain text, one block per image: references, then each mode's caption."""
    blocks = []
    for example in examples:
        lines = [f"image {example['image id']}"]
        lines += [f"  {'GT':<12} {ref}" for ref in example["references"]]
        lines += [f"  {mode:<12} {caption}" for mode, caption in example.items()
                  if mode not in ("image id", "references")]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def plot(rows, path, title):
    """CIDEr against latency, one labelled point per mode (PNG)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for row in rows:
        ax.scatter(row["ms mean"], row.get("CIDEr", 0.0))
        ax.annotate(row["mode"], (row["ms mean"], row.get("CIDEr", 0.0)), textcoords="offset points", xytext=(4, 4))
    ax.set_xlabel("latency per batch (ms)")
    ax.set_ylabel("CIDEr-D")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    save_png(fig, path)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="saic-benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="data directory")
    parser.add_argument("--features", help="HDF5 features (default: DATA/features.h5)")
    parser.add_argument("--path", required=True, help="checkpoint")
    parser.add_argument("--split", default="test")
    parser.add_argument("--images", type=int, default=200, help="number of images timed")
    parser.add_argument("--warmup", type=int, default=10, help="batches run before timing")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--group-size", type=int, help="k for saic (default: the checkpoint's)")
    parser.add_argument("--modes", nargs="+", help="subset of the mode labels, e.g. 'AIC b1' 'SAIC 1/1'")
    parser.add_argument("--no-quality", action="store_true", help="skip the COCO metrics")
    parser.add_argument("--examples", type=int, default=0,
                        help="print this many images' references beside each mode's caption (the paper's Fig. 4)")
    parser.add_argument("--json", help="write every figure here")
    parser.add_argument("--plot", help="write CIDEr against latency here (PNG)")
    args = parser.parse_args(argv)
    setup_logging()
    from saic_fairseq.model_loading import load_model_for_split

    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {"group_size": args.group_size} if args.group_size else {}
    modes = [m for m in TABLE2_MODES if not args.modes or m[0] in args.modes]
    if not modes:
        print(f"error: --modes names none of {[m[0] for m in TABLE2_MODES]}", file=sys.stderr)
        return 2
    try:
        features = args.features or os.path.join(args.data, "features.h5")
        task, model = load_model_for_split(args.path, args.data, features, args.split, args.device, **overrides)
        rows = run_benchmark(task, model, args.split, args.images, args.batch_size, args.warmup, args.device, modes,
                             quality=not args.no_quality)
    except SAICInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    on_gpu = args.device.startswith("cuda")
    device = torch.cuda.get_device_name(args.device) if on_gpu else f"cpu x{torch.get_num_threads()}"
    images = min(args.images, len(task.dataset(args.split)))
    title = (f"{os.path.basename(args.path)}, k={task.cfg.group_size}, {images} {args.split} images, "
             f"batch {args.batch_size}, {device}")
    print(title)
    print(format_table(rows, [c for c in COLUMNS if args.no_quality is False or c not in QUALITY]))
    examples = []
    if args.examples:
        from saic_fairseq.data.coco_captions import load_json

        examples = example_captions(rows, load_json(os.path.join(args.data, f"{args.split}.refs.json")), args.examples)
        print("\nExample captions (Fig. 4)\n" + format_examples(examples))
    if args.json:
        with atomic_open(args.json) as handle:
            json.dump({"title": title, "device": device, "group_size": task.cfg.group_size,
                       "batch_size": args.batch_size, "rows": rows, "examples": examples}, handle, indent=1)
    if args.plot:
        plot(rows, args.plot, title)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""saic-benchmark: latency and quality of every decoding mode of one checkpoint, in one run.

    saic-benchmark --data data/proxy --path runs/saic/checkpoint_best.pt --images 200 \
        --json bench.json --plot bench.png

Each mode (the paper's Table 2: AIC beam 5 and 1; SAIC M_out/M_fill 5/5, 5/1, 1/1; NAIC;
IR-NAIC I = 3 and 5) captions the same test images at batch size 1 (``--batch-size`` for
throughput) after ``--warmup`` batches, timing the whole ``generate`` call (encoder
included, data loading excluded). The modes are interleaved batch by batch in a shuffled
order for ``--rounds`` rounds; speed-ups are medians over rounds of ratios measured in the
same round, with their spread. Reported per mode: latency mean / p50 / p90, speed-up vs AIC
beam 5 and beam 1, decoder calls per caption and their bound (AIC N + 1, SAIC
ceil((N+1)/k) + 1, NAIC 1, IR-NAIC I), time per decoder call, the bare time of the same
decoder calls replayed alone plus the encoder, the overhead (mode time / bare time),
captions/s, and COCO metrics. Above the table: the model's own cost of one cached step and
one full pass in each implementation (fairseq's incremental state; the static cache of
``--decoder-step static``, the default; with ``--compile`` that step and pass compiled), and of the
image (the encoder and the projection of its keys and values, once per batch in every mode:
the fixed cost that bounds every speed-up at batch 1), timed interleaved.
``--compare-incremental`` runs every mode on both decoder steps in the same rounds and counts
the images captioned the same by both.
"""
import argparse
import json
import os
import sys
import textwrap

import torch
from fairseq import utils
from tqdm import tqdm

from saic_fairseq.atomic_write import atomic_open
from saic_fairseq.cli import command, format_table, setup_logging
from saic_fairseq.cli.png_figure import pyplot, save_png
from saic_fairseq.generators import DECODER_STEPS
from saic_fairseq.generators.saic_generator import OUTLINE_LENGTHS
from saic_fairseq.studies.decoding_benchmark import (
    COLUMNS,
    MODES,
    QUALITY,
    TABLE2_MODES,
    example_captions,
    run_benchmark,
)


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
    ax.set_title(textwrap.fill(title, 110), fontsize=7)  # the whole title, however long its paths
    ax.grid(alpha=0.3)
    save_png(fig, path)


@command
def main(argv=None):
    parser = argparse.ArgumentParser(prog="saic-benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="data directory")
    parser.add_argument("--features", help="HDF5 features (default: DATA/features.h5)")
    parser.add_argument("--path", required=True, help="checkpoint")
    parser.add_argument("--aic-path", help="decode the AIC modes with this checkpoint instead (e.g. the AIC teacher "
                        "SAIC was fine-tuned from: the autoregressive model a user would otherwise pick)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--images", type=int, default=200, help="number of images timed")
    parser.add_argument("--warmup", type=int, default=10, help="batches run by every mode before timing")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds over the images (median of ratios)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the per-batch mode order")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--group-size", type=int, help="k for saic (default: the checkpoint's)")
    parser.add_argument("--modes", nargs="+",
                        help="mode labels to run (default: the paper's Table 2), e.g. 'AIC b1' 'SAIC 1/1'; also "
                             "'SAIC 1/1 r=1' and 'SAIC 1/1 r=2' (--fill-iterations 1, 2) and 'IR-NAIC I=5 L=3' (3 "
                             "length candidates per image)")
    parser.add_argument("--no-quality", action="store_true", help="skip the COCO metrics")
    parser.add_argument("--keep-repeats", action="store_true", default=None,
                        help="saic, naic, ir-naic: keep parallel words equal to the word before (default: dropped)")
    parser.add_argument("--outline-length", choices=OUTLINE_LENGTHS,
                        help="saic with --outline-beam 1: Outliner words from the length head (no </s> step) or "
                        "until its own </s>, the paper (default: the checkpoint's, else length-head)")
    parser.add_argument("--decoder-step", choices=DECODER_STEPS,
                        help="static = our searches on a preallocated cache (default), incremental = fairseq's "
                        "incremental state and SequenceGenerator")
    parser.add_argument("--lenpen", type=float, default=1.0,
                        help="length penalty of every beam search and of SAIC's eq. 10: score / length ** lenpen "
                        "(fairseq's; only modes with a beam rank by it)")
    parser.add_argument("--aic-lenpen", type=float,
                        help="length penalty of the AIC modes (default: --lenpen), e.g. the teacher's own")
    parser.add_argument("--compare-incremental", action="store_true",
                        help="run every mode on --decoder-step incremental too, interleaved, and count the images "
                        "whose captions are the same on both")
    parser.add_argument("--compile", action="store_true",
                        help="the static cached step under torch.compile (CUDA graphs on a GPU; on a CPU the full "
                        "passes too); its cost is timed beside the eager steps")
    parser.add_argument("--quality-images", type=int,
                        help="score quality on this many images (default: --images); those beyond the timed "
                        "ones are captioned untimed, 50 at a time")
    parser.add_argument("--training", action="store_true",
                        help="time training updates instead: the teacher's criterion against saic_loss on the same "
                             "model and training batches (--batches, --max-tokens, --rounds)")
    parser.add_argument("--diagnose", action="store_true",
                        help="score instead where SAIC's gap to AIC comes from: the Filler on the outlines of the "
                             "--aic-path model's beam-5 captions and of a reference caption, beside SAIC 1/1 and "
                             "that model's beam 5 (batches of 50)")
    parser.add_argument("--search-variants", nargs="+", metavar="NAME=VALUE[,NAME=VALUE]",
                        help="time instead each mode under these settings of its left-to-right searches, "
                        "interleaved, relative to the first (e.g. cut_when_open=0 cut_when_open=0.5, or "
                        "bookkeeping=tensors bookkeeping=host); modes without such a search are skipped")
    parser.add_argument("--batches", type=int, default=20, help="--training: training batches timed")
    parser.add_argument("--max-tokens", type=int, default=4000, help="--training: fairseq's --max-tokens")
    parser.add_argument("--examples", type=int, default=0,
                        help="print this many images' references beside each mode's caption (the paper's Fig. 4)")
    parser.add_argument("--json", help="write every figure here")
    parser.add_argument("--plot", help="write CIDEr against latency here (PNG)")
    args = parser.parse_args(argv)
    setup_logging()
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = {"group_size": args.group_size} if args.group_size else {}
    modes = [m for m in MODES if m[0] in args.modes] if args.modes else TABLE2_MODES
    if not modes:
        print(f"error: --modes names none of {[m[0] for m in MODES]}", file=sys.stderr)
        return 2
    if args.training:
        return training_main(args, overrides)
    if args.diagnose:
        return diagnose_main(args, overrides)
    if args.search_variants:
        return search_variants_main(args, overrides, modes)
    task, model, aic_model = load_models(args, overrides)
    images = min(args.images, len(task.dataset(args.split)))
    with tqdm(total=args.rounds * -(-images // args.batch_size), desc="saic-benchmark", unit="batch",
              file=sys.stderr, disable=None) as bar:
        rows, costs = run_benchmark(task, model, args.split, args.images, args.batch_size, args.warmup,
                                    args.device, modes, quality=not args.no_quality, rounds=args.rounds,
                                    seed=args.seed, progress=bar.update, aic_model=aic_model,
                                    quality_images=args.quality_images, keep_repeats=args.keep_repeats,
                                    outline_length=args.outline_length, decoder_step=args.decoder_step,
                                    compile=args.compile, compare_incremental=args.compare_incremental,
                                    lenpen=args.lenpen, aic_lenpen=args.aic_lenpen)
    device = device_name(args.device)
    title = (f"{checkpoints_label(args)}, k={task.cfg.group_size}, {images} {args.split} images, "
             f"batch {args.batch_size}, {device}, {args.rounds} interleaved rounds")
    if args.lenpen != 1 or args.aic_lenpen not in (None, args.lenpen):
        title += f", lenpen {args.lenpen:g}" + (f" (AIC {args.aic_lenpen:g})" if args.aic_lenpen is not None else "")
    if args.compile:
        title += ", --compile"
    if rows and "CIDEr" in rows[0]:
        title += f"; quality on {len(rows[0]['captions'])} images"
    print(title)
    print(f"bare decoder, batch {args.batch_size}: one cached decoder step {costs['cached step ms']:.2f} ms, "
          f"one full 12-token pass {costs['full pass ms']:.2f} ms; the image (encoder, its keys and values, "
          f"once per batch in every mode) {costs['image ms']:.2f} ms")
    print(format_table(costs["implementations"], list(costs["implementations"][0])))
    print()
    columns = [c for c in COLUMNS if args.no_quality is False or c not in QUALITY]
    if args.compare_incremental:
        columns.append("same as incremental")
    print(format_table(rows, columns))
    examples = []
    if args.examples:
        from saic_fairseq.evaluation.reference_captions import read_references

        references = read_references(os.path.join(args.data, f"{args.split}.refs.json"))
        examples = example_captions(rows, references, args.examples)
        print("\nExample captions (Fig. 4)\n" + format_examples(examples))
    if args.json:
        with atomic_open(args.json) as handle:
            json.dump({"title": title, "device": device, "group_size": task.cfg.group_size, "rounds": args.rounds,
                       "batch_size": args.batch_size, "model_costs": costs, "rows": rows, "examples": examples},
                      handle, indent=1)
    if args.plot:
        plot(rows, args.plot, title)
    return 0


def load_models(args, overrides):
    """(task, model, AIC model or None): ``--path`` on ``--split``, and ``--aic-path`` if given."""
    from saic_fairseq.model_loading import load_model_for_split

    features = args.features or os.path.join(args.data, "features.h5")
    task, model = load_model_for_split(args.path, args.data, features, args.split, args.device, **overrides)
    aic_model = None
    if args.aic_path:
        aic_model = load_model_for_split(args.aic_path, args.data, features, None, args.device, **overrides)[1]
    return task, model, aic_model


def checkpoints_label(args):
    """``--path``, and ``--aic-path`` if given: how a table's title names the checkpoints it timed."""
    return f"{args.path}" + (f" (AIC modes: {args.aic_path})" if args.aic_path else "")


def device_name(device):
    """The GPU's name, or "cpu xN" with torch's N threads."""
    return torch.cuda.get_device_name(device) if device.startswith("cuda") else f"cpu x{torch.get_num_threads()}"


def search_variants_main(args, overrides, modes):
    """saic-benchmark --search-variants: the table of studies.search_variants."""
    from saic_fairseq.studies import search_variants as study
    from saic_fairseq.studies.decoding_benchmark import Clock, mode_generator, per_mode

    try:
        variants = [study.parse_variant(text) for text in args.search_variants]
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    task, model, aic_model = load_models(args, overrides)
    dataset = task.dataset(args.split)
    images = min(args.images, len(dataset))
    batches = [utils.apply_to_sample(lambda t: t.to(args.device), b) for b in dataset.batches(images, args.batch_size)]
    clock = Clock(args.device)
    rows = []
    with tqdm(total=args.rounds * len(batches) * len(modes), desc="saic-benchmark --search-variants",
              unit="batch", file=sys.stderr, disable=None) as bar:
        for mode in modes:
            m = per_mode(mode, model, aic_model)
            generator = mode_generator(task, m, mode, lenpen=per_mode(mode, args.lenpen, args.aic_lenpen),
                                       keep_repeats=args.keep_repeats, outline_length=args.outline_length,
                                       decoder_step=args.decoder_step, compile=args.compile)
            with torch.no_grad():
                timed = study.time_variants(generator, m, variants, batches, args.rounds, clock, args.warmup,
                                            args.seed, bar.update)
            if timed is None:
                print(f"{mode[0]}: no search of it takes {', '.join(sorted({n for v in variants for n in v}))}; "
                      "skipped", file=sys.stderr)
                bar.update(args.rounds * len(batches))
                continue
            rows += study.variant_rows(mode[0], args.search_variants, variants, *timed, len(batches))
    if not rows:
        print("error: no mode has a search that takes these settings", file=sys.stderr)
        return 2
    device = device_name(args.device)
    title = (f"{checkpoints_label(args)}, {images} {args.split} images, batch {args.batch_size}, {device}, "
             f"{args.rounds} interleaved rounds" + (", --compile" if args.compile else ""))
    print(title)
    print(format_table(rows, study.COLUMNS))
    if args.json:
        with atomic_open(args.json) as handle:
            json.dump({"title": title, "rows": rows}, handle, indent=1)
    return 0


def diagnose_main(args, overrides):
    """saic-benchmark --diagnose: the table of studies.gap_diagnosis."""
    from saic_fairseq.studies.gap_diagnosis import COLUMNS as DIAGNOSIS_COLUMNS
    from saic_fairseq.studies.gap_diagnosis import diagnose, score_rows

    if not args.aic_path:
        print("error: --diagnose needs --aic-path (the AIC teacher)", file=sys.stderr)
        return 2
    task, model, teacher = load_models(args, overrides)
    rows, references = diagnose(task, model, teacher, args.split, args.images)
    table = score_rows(rows, references)
    print(f"{args.path} (teacher: {args.aic_path}), k={task.cfg.group_size}, {len(rows['SAIC 1/1'])} "
          f"{args.split} images")
    print(format_table(table, DIAGNOSIS_COLUMNS))
    if args.json:
        with atomic_open(args.json) as handle:
            json.dump({"rows": table, "captions": rows}, handle, indent=1)
    return 0


def training_main(args, overrides):
    """saic-benchmark --training: the table of studies.training_benchmark."""
    from saic_fairseq.model_loading import load_model_for_split
    from saic_fairseq.studies.training_benchmark import COLUMNS as TRAINING_COLUMNS
    from saic_fairseq.studies.training_benchmark import run_training_benchmark, training_batches

    features = args.features or os.path.join(args.data, "features.h5")
    task, model = load_model_for_split(args.path, args.data, features, "train", args.device,
                                       unique_images=False, **overrides)
    batches, data_seconds = training_batches(task, args.batches, args.max_tokens)
    batches = [utils.apply_to_sample(lambda t: t.to(args.device), b) for b in batches]
    with tqdm(total=args.rounds * len(batches), desc="saic-benchmark --training", unit="batch",
              file=sys.stderr, disable=None) as bar:
        rows = run_training_benchmark(task, model, batches, rounds=args.rounds, seed=args.seed,
                                      progress=bar.update)
    title = (f"{os.path.basename(args.path)}, k={task.cfg.group_size}, {len(batches)} training batches of "
             f"--max-tokens {args.max_tokens}, {args.device}, {args.rounds} interleaved rounds")
    print(title)
    print(f"batch preparation (features + collation): {1000 * data_seconds[0]:.1f} ms/batch first pass, "
          f"{1000 * data_seconds[1]:.1f} ms/batch second pass")
    print(format_table(rows, TRAINING_COLUMNS))
    if args.json:
        with atomic_open(args.json) as handle:
            json.dump({"title": title, "batch preparation s": data_seconds, "rows": rows}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

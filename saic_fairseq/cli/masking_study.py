"""saic-masking-study: the paper's preliminary study (Sec. 3, Fig. 2 and Table 1).

    saic-masking-study --data data/proxy --teacher runs/proxy/teacher/checkpoint_best.pt \
        --filler runs/studies/saic/checkpoint_last.pt --images 250 --out runs/studies/masking

The AIC teacher captions the test images with beam 5; each caption is masked by Head, Tail,
Random (``--seeds`` seeds, averaged) and Group masking at rates 0.1 ... 0.9, and the filler
model fills every ``<mask>`` in one parallel pass (bidirectional, the length kept); the
captions are scored with pycocoevalcap's BLEU-4 and CIDEr-D. Then Table 1: Group masking at
p = 0.7 with beam M in {1, 5} (the teacher's top M captions are masked and filled, the filled
caption with the best mean log-probability wins) and I in {1, 5} mask-predict iterations.
Writes OUT.md, OUT.json and OUT.png (CIDEr-D against the masking rate).
"""
import argparse
import json
import sys

from saic_fairseq.atomic_write import atomic_open
from saic_fairseq.cli import command, format_table, setup_logging
from saic_fairseq.cli.png_figure import pyplot, save_png
from saic_fairseq.errors import SAICInputError
from saic_fairseq.studies.caption_masking import METHODS
from saic_fairseq.studies.masking_study import RATES, run_study


def markdown(result, title):
    by = {(r["method"], r["rate"]): r["CIDEr"] for r in result["fig2"]}
    rates = sorted({r["rate"] for r in result["fig2"]})
    fig2 = [{"method": m, **{f"p={rate}": by[(m, rate)] for rate in rates}} for m in METHODS]
    return "\n\n".join([
        f"### Fig. 2: CIDEr-D of the teacher's beam-5 captions, masked and refilled in one pass\n\n{title}; "
        f"unmasked teacher captions: BLEU-4 {result['teacher']['BLEU-4']:.2f}, CIDEr-D "
        f"{result['teacher']['CIDEr']:.2f}. The paper's Fig. 2 is a plot without printed values: "
        "its shape is Group > Random > Head, Tail.",
        format_table(fig2, ["method"] + [f"p={rate}" for rate in rates], markdown=True),
        "### Table 1: Group masking at p = 0.7, beam M and iterations I",
        format_table(result["table1"], ["M", "I", "BLEU-4", "CIDEr", "paper BLEU-4", "paper CIDEr"], markdown=True),
    ]) + "\n"


def plot(result, path, title):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for method in METHODS:
        rows = [r for r in result["fig2"] if r["method"] == method]
        ax.plot([r["rate"] for r in rows], [r["CIDEr"] for r in rows], marker="o", label=method.capitalize())
    ax.axhline(result["teacher"]["CIDEr"], color="gray", linestyle="--", label="teacher, no mask")
    ax.set_xlabel("masking rate p")
    ax.set_ylabel("CIDEr-D")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    save_png(fig, path)


@command
def main(argv=None):
    parser = argparse.ArgumentParser(prog="saic-masking-study", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="data directory")
    parser.add_argument("--features", help="HDF5 features (default: DATA/features.h5)")
    parser.add_argument("--teacher", required=True, help="AIC checkpoint whose beam-5 captions are masked")
    parser.add_argument("--filler", required=True, help="checkpoint whose Filler fills the masks (a SAIC model)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--images", type=int, default=250)
    parser.add_argument("--seeds", type=int, default=4, help="runs of Random masking, averaged")
    parser.add_argument("--rates", type=float, nargs="+", default=RATES, help="masking rates (default 0.1 ... 0.9)")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--out", required=True, help="prefix of OUT.md, OUT.json, OUT.png")
    args = parser.parse_args(argv)
    setup_logging()
    from saic_fairseq.evaluation.reference_captions import read_references
    from saic_fairseq.model_loading import load_model_for_split

    features = args.features or f"{args.data}/features.h5"
    teacher_task, teacher = load_model_for_split(args.teacher, args.data, features, args.split)
    task, model = load_model_for_split(args.filler, args.data, features, args.split)
    if len(task.target_dictionary) != len(teacher_task.target_dictionary):
        raise SAICInputError(args.filler, None, "its dictionary differs from the teacher's")
    references = read_references(f"{args.data}/{args.split}.refs.json")
    count = min(args.images, len(task.dataset(args.split)))
    result = run_study(teacher_task, teacher, task, model, args.split, count, args.batch_size, args.seeds,
                       references, args.rates)
    title = f"teacher {args.teacher}, filler {args.filler}, {count} {args.split} images"
    result["title"] = title
    text = markdown(result, title)
    print(text)
    with atomic_open(args.out + ".md") as handle:
        handle.write(text)
    plot(result, args.out + ".png", title)
    with atomic_open(args.out + ".json") as handle:  # last: its presence means the study is complete
        json.dump(result, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

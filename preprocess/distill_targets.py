"""Teacher captions for hybrid distillation (paper Sec. 4.2).

Runs a trained AIC teacher (beam 5 by default) over the training images and writes, per
training caption line, the teacher's caption of that line's image, binarized with the same
dictionary: DATA/train.distill.{txt,ids,bin,idx}. A killed run resumes from its journal.

    python -m preprocess.distill_targets data/proxy --features data/proxy/features.h5 \
        --path runs/teacher/checkpoint_best.pt
"""
import argparse
import os

from preprocess.cli import run
from saic_fairseq.data.teacher_captions import write_distillation
from saic_fairseq.model_loading import load_model_for_split
from saic_fairseq.teacher_captioning import caption_remaining


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="data directory (dict.txt, {split}.bin/.idx/.ids)")
    parser.add_argument("--features", required=True)
    parser.add_argument("--path", required=True, help="teacher checkpoint")
    parser.add_argument("--split", default="train")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    journal = os.path.join(args.data, f"{args.split}.distill.journal")
    task, model = load_model_for_split(args.path, args.data, args.features, args.split, args.device)
    caption_remaining(task, model, args.split, journal, args.beam, args.batch_size, args.device)
    count = write_distillation(task, args.data, args.split, journal)
    print(f"wrote {count} teacher captions to {args.data}/{args.split}.distill.*")


if __name__ == "__main__":
    run(main)

"""The full Karpathy-style COCO split (~616k captions) from installed packages only.

Captions come from pycocoevalcap's spice jar, test ids from eccv-caption; valid is 5,000
other val2014 images drawn with --seed (no package lists Karpathy's own val ids).

    python -m preprocess.karpathy_split_from_packages --out data/coco-karpathy
    fairseq-preprocess --only-source --trainpref data/coco-karpathy/train.txt \
        --validpref data/coco-karpathy/valid.txt --testpref data/coco-karpathy/test.txt \
        --destdir data/coco-karpathy --thresholdsrc 5 --workers 2
"""
import argparse
import logging

from preprocess.cli import run
from saic_fairseq.data.coco_captions import write_caption_split
from saic_fairseq.data.karpathy_split import build_karpathy_style_split

logger = logging.getLogger("preprocess.karpathy_split_from_packages")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0, help="seed of the valid-image draw")
    args = parser.parse_args(argv)
    for name, images in build_karpathy_style_split(seed=args.seed).items():
        write_caption_split(args.out, name, images)
        logger.info(f"{name}: {len(images)} images, {sum(len(i.captions) for i in images)} captions")


if __name__ == "__main__":
    run(main)

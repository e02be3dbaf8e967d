"""The bundled default data: real COCO captions + text-proxy features (no download).

For a seeded subset of the Karpathy-style split, one caption per image is held out and
turned into that image's "regions" (a fixed random vector per content word, plus noise); the
other captions are the training targets and references. A PROXY for visual features: see
saic_fairseq/data/text_proxy.py.

    python -m preprocess.text_proxy --out data/proxy
    fairseq-preprocess --only-source --trainpref data/proxy/train.txt --validpref data/proxy/valid.txt \
        --testpref data/proxy/test.txt --destdir data/proxy --thresholdsrc 5
"""
import argparse
import logging

from preprocess.cli import run
from saic_fairseq.data.karpathy_split import build_karpathy_style_split
from saic_fairseq.data.text_proxy import write_text_proxy

logger = logging.getLogger("preprocess.text_proxy")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--train-images", type=int, default=4000)
    parser.add_argument("--valid-images", type=int, default=250)
    parser.add_argument("--test-images", type=int, default=1000,
                        help="quality is scored on all of them; latency on the first 250")
    parser.add_argument("--dim", type=int, default=64, help="width of the proxy features")
    parser.add_argument("--noise", type=float, default=0.5, help="std of the noise added to each word vector")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    counts = {"train": args.train_images, "valid": args.valid_images, "test": args.test_images}
    written = write_text_proxy(args.out, build_karpathy_style_split(seed=args.seed), counts, args.dim, args.noise,
                               args.seed)
    for name, images in written.items():
        logger.info(f"{name}: {len(images)} images, {sum(len(i.captions) for i in images)} captions")


if __name__ == "__main__":
    run(main)

"""Photos + captions (Flickr8k, Flickr30k, COCO as downloaded, or your own) -> a data directory
the saic_captioning task reads, with the split the distribution defines.

    python -m preprocess.own_data --images Flickr8k/images --captions Flickr8k/captions.txt --out data/flickr8k
    python -m preprocess.own_data --images Flicker8k_Dataset --captions Flickr8k.token.txt --out data/flickr8k
    python -m preprocess.own_data --images flickr30k-images --captions dataset_flickr30k.json --out data/flickr30k
    python -m preprocess.own_data --images photos/ --captions captions.csv --out data/mine
    fairseq-preprocess --only-source --trainpref data/mine/train.txt --validpref data/mine/valid.txt \
        --testpref data/mine/test.txt --destdir data/mine --thresholdsrc 5

Captions: Karpathy's ``dataset_*.json`` (its split), ``Flickr8k.token.txt`` or a CSV with the
header ``image,caption`` such as Kaggle's ``captions.txt`` (split by the official
``*{train,dev,test}Images.txt`` lists beside it or in --split-lists; else a seeded shuffle), or
JSON lines {"image": ..., "caption": ...}. Writes {split}.txt/.ids/.refs.json, images.tsv (file
name <TAB> image id) and features.h5: the grid features of --backbone, recorded in the file, so
the trained model captions new photos with saic-caption through the same network. Extraction
streams a batch at a time and resumes after a kill; an unreadable photo is named and left out
with its captions (--strict: stop there).
"""
import argparse
import logging
import os

from preprocess.cli import run
from saic_fairseq.data.own_captions import read_own_data, write_own_data
from saic_fairseq.features.backbones import DEFAULT_BACKBONE, add_backbone_argument
from saic_fairseq.features.extraction import extract_features

logger = logging.getLogger("preprocess.own_data")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", required=True, help="folder of the images")
    parser.add_argument("--captions", required=True, help="dataset_*.json, *.token.txt, captions.txt/.csv or .jsonl")
    parser.add_argument("--out", required=True)
    parser.add_argument("--split-lists", help="folder of the official *{train,dev,test}Images.txt lists "
                        "(default: the captions file's folder)")
    parser.add_argument("--random-split", action="store_true", help="a seeded shuffle even where split lists exist")
    parser.add_argument("--valid-fraction", type=float, default=0.1, help="of a seeded shuffle")
    parser.add_argument("--test-fraction", type=float, default=0.1, help="of a seeded shuffle")
    parser.add_argument("--seed", type=int, default=1)
    add_backbone_argument(parser, DEFAULT_BACKBONE)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--strict", action="store_true", help="stop at the first unreadable image")
    args = parser.parse_args(argv)
    splits, how = read_own_data(args.captions, args.images, False if args.random_split else args.split_lists,
                                args.valid_fraction, args.test_fraction, args.seed)
    logger.info(f"split: {how}")
    images = sorted((i.image_id, i.file_name) for part in splits.values() for i in part)
    _, skipped = extract_features([(os.path.join(args.images, name), image_id) for image_id, name in images],
                                  os.path.join(args.out, "features.h5"), args.backbone, args.batch_size, args.device,
                                  args.strict)
    unreadable = {image_id for _, image_id, _ in skipped}
    splits = {split: [i for i in part if i.image_id not in unreadable] for split, part in splits.items()}
    write_own_data(args.out, splits)
    for split, part in splits.items():
        logger.info(f"{split}: {len(part)} images, {sum(len(i.captions) for i in part)} captions")
    if skipped:
        logger.warning(f"{len(skipped)} unreadable images left out with their captions")
        return 1
    return 0


if __name__ == "__main__":
    run(main)

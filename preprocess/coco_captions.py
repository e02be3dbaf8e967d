"""Caption split files ({split}.txt, .ids, .refs.json) from COCO caption annotations.

    # Karpathy's dataset_coco.json (train = train + restval)
    python -m preprocess.coco_captions --karpathy-json dataset_coco.json --out data/coco
    # COCO's official files + one image-id list per split
    python -m preprocess.coco_captions --coco-json captions_train2014.json captions_val2014.json \
        --split-ids train=train.txt valid=val.txt test=test.txt --out data/coco
"""
import argparse
import logging

from preprocess.cli import run
from saic_fairseq.data.coco_captions import (
    read_coco_annotations,
    read_id_list,
    read_karpathy_json,
    select_split,
    write_caption_split,
)
from saic_fairseq.errors import SAICInputError

logger = logging.getLogger("preprocess.coco_captions")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--karpathy-json", help="Karpathy's dataset_coco.json")
    source.add_argument("--coco-json", nargs="+", help="COCO captions_*.json files")
    parser.add_argument("--split-ids", nargs="+", metavar="SPLIT=FILE", help="with --coco-json: id list per split")
    parser.add_argument("--out", required=True, help="output folder")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.karpathy_json:
        splits = read_karpathy_json(args.karpathy_json)
    else:
        if not args.split_ids:
            raise SAICInputError("--split-ids", None, "give SPLIT=FILE id lists with --coco-json")
        by_image = read_coco_annotations(args.coco_json)
        splits = {}
        for spec in args.split_ids:
            name, _, path = spec.partition("=")
            if not path:
                raise SAICInputError("--split-ids", None, f"expected SPLIT=FILE, got {spec!r}")
            splits[name] = select_split(by_image, read_id_list(path), path)
    for name, images in splits.items():  # everything is read and checked before anything is written
        write_caption_split(args.out, name, images)
        logger.info(f"{name}: {len(images)} images, {sum(len(i.captions) for i in images)} captions")


if __name__ == "__main__":
    run(main)

"""Bottom-up-attention TSV (image_id, image_w, image_h, num_boxes, boxes, features) -> HDF5.

    python -m preprocess.features_from_tsv trainval_resnet101_faster_rcnn.tsv --out coco_features.h5
"""
import argparse

from preprocess.cli import run
from saic_fairseq.features.bottom_up_tsv import read_bottom_up_tsv
from saic_fairseq.features.feature_writer import write_features


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tsv", nargs="+", help="TSV files (all go into one HDF5 file)")
    parser.add_argument("--out", required=True, help="output HDF5 file")
    args = parser.parse_args(argv)
    records = (record for path in args.tsv for record in read_bottom_up_tsv(path))
    count = write_features(args.out, records, source=",".join(args.tsv))
    print(f"wrote {count} images to {args.out}")


if __name__ == "__main__":
    run(main)

"""A folder of ``<image id>.npy`` / ``<image id>.npz`` feature files -> one HDF5 file.

    python -m preprocess.features_from_npy features_folder/ --out features.h5
"""
import argparse

from preprocess.cli import run
from saic_fairseq.features.feature_writer import write_features
from saic_fairseq.features.npy_folder import read_npy_folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder")
    parser.add_argument("--out", required=True, help="output HDF5 file")
    args = parser.parse_args(argv)
    count = write_features(args.out, read_npy_folder(args.folder), source=args.folder)
    print(f"wrote {count} images to {args.out}")


if __name__ == "__main__":
    run(main)

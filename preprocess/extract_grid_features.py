"""Grid features (EfficientNet-Lite0, 49 regions x 1280, with cell boxes) of image files -> HDF5.

The image id of a file is the number its name ends with (``COCO_val2014_000000391895.jpg``
-> 391895); with ``--assign-ids`` files are numbered 1, 2, ... in name order instead and the
mapping is written to ``OUT.ids.tsv`` (file name <TAB> image id).

    python -m preprocess.extract_grid_features images/*.jpg --out features.h5
"""
import argparse
import os

from preprocess.cli import run
from saic_fairseq.atomic_write import atomic_open
from saic_fairseq.errors import SAICInputError
from saic_fairseq.features.feature_writer import write_features
from saic_fairseq.features.grid_features import GridFeatureExtractor, load_image
from saic_fairseq.features.image_files import find_images, image_id_of


def assign_image_ids(paths, assign=False):
    """[(path, image id)] in name order; numbered 1.. when ``assign``."""
    paths = sorted(paths)
    if assign:
        return [(p, i + 1) for i, p in enumerate(paths)]
    try:
        return [(p, image_id_of(p)) for p in paths]
    except SAICInputError as err:
        raise SAICInputError(err.path, None, f"{err.problem} (use --assign-ids)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="+", help="image files, folders (searched recursively) or glob patterns")
    parser.add_argument("--out", required=True, help="output HDF5 file")
    parser.add_argument("--assign-ids", action="store_true", help="number the files instead of reading ids")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    pairs = assign_image_ids(find_images(args.images), args.assign_ids)
    extractor = GridFeatureExtractor(args.device)

    def records():
        for start in range(0, len(pairs), args.batch_size):
            chunk = pairs[start : start + args.batch_size]
            for (path, image_id), (features, boxes) in zip(chunk, extractor([load_image(p) for p, _ in chunk])):
                yield image_id, features, boxes, f"image id {image_id} ({path})"

    count = write_features(args.out, records(), source="images", total=len(pairs))
    if args.assign_ids:
        with atomic_open(args.out + ".ids.tsv") as handle:
            handle.writelines(f"{os.path.basename(p)}\t{i}\n" for p, i in pairs)
    print(f"wrote {count} images to {args.out}")


if __name__ == "__main__":
    run(main)

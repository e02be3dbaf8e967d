"""Grid features (a backbone's last convolutional map, one region per cell, with cell boxes) of
image files -> HDF5. ``--backbone`` (default efficientnet-lite2, 81 regions x 1280) is recorded
in the file; extraction streams a batch at a time and resumes after a kill (OUT.partial).

The image id of a file is the number its name ends with (``COCO_val2014_000000391895.jpg``
-> 391895); with ``--assign-ids`` files are numbered 1, 2, ... in name order instead and the
mapping is written to ``OUT.ids.tsv`` (file name <TAB> image id).

    python -m preprocess.extract_grid_features images/*.jpg --out features.h5 --backbone efficientnet-lite2

A file that is not a readable image is named and skipped (exit status 1), or stops the run
with --strict (exit status 2; what was extracted stays in OUT.partial for the next run).
"""
import argparse
import os

from preprocess.cli import run
from saic_fairseq.atomic_write import atomic_open
from saic_fairseq.errors import SAICInputError
from saic_fairseq.features.backbones import DEFAULT_BACKBONE, add_backbone_argument
from saic_fairseq.features.extraction import extract_features
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
    add_backbone_argument(parser, DEFAULT_BACKBONE)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--strict", action="store_true", help="stop at the first unreadable image")
    args = parser.parse_args(argv)
    pairs = assign_image_ids(find_images(args.images), args.assign_ids)
    count, skipped = extract_features(pairs, args.out, args.backbone, args.batch_size, args.device, args.strict)
    if args.assign_ids:
        unreadable = {path for path, _, _ in skipped}
        with atomic_open(args.out + ".ids.tsv") as handle:
            handle.writelines(f"{os.path.basename(p)}\t{i}\n" for p, i in pairs if p not in unreadable)
    print(f"wrote {count} images to {args.out}" + (f"; {len(skipped)} unreadable files skipped" if skipped else ""))
    return 1 if skipped else 0


if __name__ == "__main__":
    run(main)

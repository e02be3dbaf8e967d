"""saic-caption: captions of image files, of the images of a data split, or of an HDF5 feature file.

    saic-caption photo.jpg
    saic-caption --path runs/grid/saic photos/ more/*.jpg one.png
    saic-caption --path runs/grid/saic photos/ --nbest 3 --decoding aic --beam 5
    saic-caption --path runs/proxy/saic/checkpoint_last.pt --split test --format coco --output results.json
    saic-caption --path runs/proxy/saic/checkpoint_last.pt --features data/proxy/features.h5 --image-ids 73 74

Inputs are files, folders (searched recursively for image files) and glob patterns. Images
are decoded a batch at a time (--batch-size) and each batch's lines are printed as it
finishes. A file that is not a readable image is named on stderr and skipped, and the exit
status is then 1 (--strict: stop at the first, exit status 2). EXIF orientation is respected.

--format tsv (default): name<TAB>caption; with --nbest N: name<TAB>score<TAB>caption, N lines
per image. jsonl: one JSON object per image. coco: the COCO evaluation server's result file
[{"image_id", "caption"}]; image ids come from --annotations (a COCO annotation file's
file names), else from the number a file name ends with (COCO_val2014_000000391895.jpg),
and are the split's image ids with --split or --features. saic-evaluate reads all three.

Without --path, the model that ships with the package captions (SAIC trained on Flickr8k).
Images go through the backbone recorded in the model (preprocess.extract_grid_features made
its training features); --split and --features caption any model. Captions never contain <unk>.
"""
import argparse
import contextlib
import sys

from saic_fairseq.atomic_write import atomic_open
from saic_fairseq.caption_formats import FORMATS, CaptionWriter
from saic_fairseq.cli import command, setup_logging


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="saic-caption", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="*", help="image files, folders or glob patterns")
    parser.add_argument("--path", help="checkpoint file (or a directory with checkpoint_best.pt); default: the "
                        "model that ships with the package (SAIC trained on Flickr8k)")
    parser.add_argument("--backbone", help="the image backbone to expect (default: the one recorded in the model; "
                        "another is refused, naming both)")
    source = parser.add_argument_group("other inputs (instead of images)")
    source.add_argument("--split", help="caption every image of this split of --data (its .ids file)")
    source.add_argument("--data", help="data directory of --split (default: the one saved in the checkpoint); for "
                        "checkpoints of older versions also the directory of the model's dict.txt")
    source.add_argument("--features", help="HDF5 feature file (default with --split: the one saved in the "
                        "checkpoint, else DATA/features.h5)")
    source.add_argument("--image-ids", nargs="+", type=int, help="with --features: which images (default: all)")
    decoding = parser.add_argument_group("decoding")
    decoding.add_argument("--decoding", default="saic", choices=["aic", "saic", "naic", "ir-naic"])
    decoding.add_argument("--beam", type=int, default=5, help="aic beam")
    decoding.add_argument("--outline-beam", type=int, default=1, help="saic: M_out, the Outliner's beam")
    decoding.add_argument("--fill-beam", type=int, default=1, help="saic: M_fill, outlines filled (<= M_out)")
    decoding.add_argument("--iterations", type=int, default=5, help="ir-naic: mask-predict iterations")
    decoding.add_argument("--fill-iterations", type=int, help="saic: Filler refinement passes (default: the "
                          "checkpoint's --fill-iterations, else 0)")
    decoding.add_argument("--keep-repeats", action="store_true", default=None,
                          help="saic, naic, ir-naic: keep a word predicted in parallel that equals the word before "
                          "it (default: dropped)")
    decoding.add_argument("--outline-length", choices=["length-head", "eos"],
                          help="saic with --outline-beam 1: Outliner words from the length head (no </s> step) or "
                          "until its own </s>, the paper (default: the checkpoint's, else length-head)")
    decoding.add_argument("--group-size", type=int, help="k (default: the checkpoint's)")
    decoding.add_argument("--nbest", type=int, help="write this many captions per image with their scores "
                          "(at most --beam for aic, --fill-beam for saic, 1 for naic and ir-naic)")
    decoding.add_argument("--batch-size", type=int, default=16, help="images decoded together")
    decoding.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    output = parser.add_argument_group("output")
    output.add_argument("--output", help="write here instead of stdout (the file appears when the run ends)")
    output.add_argument("--format", default="tsv", choices=FORMATS)
    output.add_argument("--annotations", help="COCO caption annotation file: image ids of the files' names")
    output.add_argument("--strict", action="store_true", help="stop at the first unreadable image (exit status 2)")
    output.add_argument("--verbose", action="store_true", help="log what is loaded")
    args = parser.parse_args(argv)
    if sum([bool(args.images), bool(args.split), bool(args.features and not args.split)]) != 1:
        parser.error("give image files/folders, --split or --features (one of them)")
    if args.image_ids and not args.features:
        parser.error("--image-ids goes with --features")
    if args.nbest is not None and args.nbest < 1:
        parser.error("--nbest must be at least 1")
    return args


@command
def main(argv=None):
    args = parse_args(argv)
    setup_logging(args.verbose)
    from tqdm import tqdm

    from saic_fairseq.hub import SAICCaptioner

    options = dict(decoding=args.decoding, beam=args.beam, outline_beam=args.outline_beam, fill_beam=args.fill_beam,
                   iterations=args.iterations, fill_iterations=args.fill_iterations, keep_repeats=args.keep_repeats,
                   outline_length=args.outline_length,
                   nbest=args.nbest or 1, batch_size=args.batch_size)
    overrides = {"group_size": args.group_size} if args.group_size else {}
    if args.images:
        from saic_fairseq.evaluation.reference_captions import image_ids_by_file_name
        from saic_fairseq.features.image_files import find_images, image_ids_of_files

        paths = find_images(args.images)
        image_ids = image_ids_of_files(paths, image_ids_by_file_name(args.annotations) if args.annotations else None)
    captioner = SAICCaptioner.from_pretrained(args.path, data=args.data, device=args.device, **overrides)
    if args.images:
        captioner.check_image_features(args.backbone)
        stream = captioner.caption_files(paths, skip_unreadable=not args.strict, **options)
        count = len(paths)
    else:
        if args.split:
            store, ids = captioner.split_images(args.split, args.data, args.features)
        else:
            store = captioner.open_features(args.features)
            ids = args.image_ids or sorted(store.image_ids())
        stream = ((str(i), result, None) for i, result in captioner.caption_stored(store, ids, **options))
        image_ids, count = {str(i): i for i in ids}, len(ids)
    skipped = 0
    with atomic_open(args.output) if args.output else contextlib.nullcontext(sys.stdout) as handle:
        writer = CaptionWriter(handle, args.format, args.nbest)
        with tqdm(total=count, unit="image", desc="saic-caption", file=sys.stderr, disable=None) as bar:
            for name, result, error in stream:
                bar.update()
                if error is not None:
                    skipped += 1
                    bar.write(f"warning: {error}; skipped", file=sys.stderr)
                    continue
                writer.write(name, image_ids[name], [(r["caption"], r["score"]) for r in result])
        writer.close()
    if skipped:
        print(f"saic-caption: {skipped} of {count} files skipped (not readable images)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

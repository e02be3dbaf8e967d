"""saic-caption: captions of image files, or of the arrays of an HDF5 feature file.

    saic-caption --path runs/grid/saic/checkpoint_best.pt photo1.jpg photo2.png
    saic-caption --path runs/proxy/saic/checkpoint_best.pt --features data/proxy/features.h5 --image-ids 73 74

Prints ``name<TAB>caption`` per input. Images use the EfficientNet-Lite0 grid features of
preprocess.extract_grid_features, so they suit a model trained on those.
"""
import argparse
import json
import sys

from saic_fairseq.atomic_write import atomic_open
from saic_fairseq.cli import command, setup_logging
from saic_fairseq.errors import SAICInputError


@command
def main(argv=None):
    parser = argparse.ArgumentParser(prog="saic-caption", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("images", nargs="*", help="image files")
    parser.add_argument("--path", required=True, help="checkpoint file (or a directory with checkpoint_best.pt)")
    parser.add_argument("--data", help="directory of the model's dict.txt (default: the one saved in the checkpoint)")
    parser.add_argument("--features", help="caption the images of this HDF5 feature file instead")
    parser.add_argument("--image-ids", nargs="+", type=int, help="with --features: which images (default: all)")
    parser.add_argument("--decoding", default="saic", choices=["aic", "saic", "naic", "ir-naic"])
    parser.add_argument("--beam", type=int, default=5, help="aic beam")
    parser.add_argument("--outline-beam", type=int, default=1)
    parser.add_argument("--fill-beam", type=int, default=1)
    parser.add_argument("--iterations", type=int, default=5, help="ir-naic: mask-predict iterations")
    parser.add_argument("--fill-iterations", type=int, help="saic: Filler refinement passes (default: the "
                        "checkpoint's --fill-iterations, else 0)")
    parser.add_argument("--group-size", type=int, help="k (default: the checkpoint's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", help="also write {name: caption} here")
    args = parser.parse_args(argv)
    setup_logging()
    if bool(args.images) == bool(args.features):
        parser.error("give image files or --features, not both or neither")
    from saic_fairseq.hub import SAICCaptioner

    options = dict(decoding=args.decoding, beam=args.beam, outline_beam=args.outline_beam,
                   fill_beam=args.fill_beam, iterations=args.iterations, fill_iterations=args.fill_iterations)
    overrides = {"group_size": args.group_size} if args.group_size else {}
    captioner = SAICCaptioner.from_pretrained(args.path, data=args.data, device=args.device, **overrides)
    if args.features:
        from saic_fairseq.features.feature_store import FeatureStore

        store = FeatureStore(args.features, expected_dim=captioner.feature_dim)
        ids = args.image_ids or sorted(store.image_ids())
        for image_id in ids:
            if image_id not in store:
                raise SAICInputError(args.features, f"image id {image_id}", "no features for this image")
        names = [str(i) for i in ids]
        captions = captioner.caption_features([(store.features(i), store.boxes(i)) for i in ids], **options)
    else:
        names = args.images
        captions = captioner.caption(args.images, **options)
    for name, caption in zip(names, captions):
        print(f"{name}\t{caption}")
    if args.json:
        with atomic_open(args.json) as handle:
            json.dump(dict(zip(names, captions)), handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

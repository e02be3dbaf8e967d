"""Your own images and captions -> a data directory the saic_captioning task reads.

    python -m preprocess.own_data --images photos/ --captions captions.csv --out data/mine
    fairseq-preprocess --only-source --trainpref data/mine/train.txt --validpref data/mine/valid.txt \
        --testpref data/mine/test.txt --destdir data/mine --thresholdsrc 1

captions.csv has a header ``image,caption`` (or use JSON lines {"image": ..., "caption": ...});
features are EfficientNet-Lite0 grid features (data/mine/features.h5), so the trained model
captions new photos with saic-caption.
"""
import argparse
import os

from preprocess.cli import run
from saic_fairseq.data.own_captions import read_caption_table, split_own_data, write_own_data
from saic_fairseq.features.feature_writer import write_features
from saic_fairseq.features.grid_features import GridFeatureExtractor, load_image


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", required=True, help="folder of the images")
    parser.add_argument("--captions", required=True, help="captions.csv or captions.jsonl")
    parser.add_argument("--out", required=True)
    parser.add_argument("--valid-fraction", type=float, default=0.1)
    parser.add_argument("--test-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    captions = read_caption_table(args.captions, args.images)
    splits, ids = split_own_data(captions, args.valid_fraction, args.test_fraction, args.seed)
    names = sorted(ids, key=ids.get)
    images = [load_image(os.path.join(args.images, n)) for n in names]  # every image checked first
    extractor = GridFeatureExtractor(args.device)

    def records():
        for start in range(0, len(names), 16):
            batch = extractor(images[start : start + 16])
            for name, (features, boxes) in zip(names[start : start + 16], batch):
                yield ids[name], features, boxes, f"image id {ids[name]} ({name})"

    write_features(os.path.join(args.out, "features.h5"), records(), source=args.images, total=len(names))
    write_own_data(args.out, splits, ids)
    for split, part in splits.items():
        print(f"{split}: {len(part)} images, {sum(len(i.captions) for i in part)} captions")


if __name__ == "__main__":
    run(main)

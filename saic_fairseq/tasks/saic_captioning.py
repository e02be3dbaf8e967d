"""``saic_captioning``: captions of images, read from the data directory of docs/design.md.

    DATA/dict.txt, DATA/{split}.bin/.idx   (fairseq-preprocess --only-source)
    DATA/{split}.ids                       image id of every caption line
    DATA/{split}.distill.bin/.idx/.ids     optional teacher captions (hybrid distillation)
    --features FILE.h5                     image features, read lazily

The decoding mode of ``fairseq-generate`` is chosen here (``--decoding``), since fairseq's
generation config takes no new flags.
"""
import io
import logging
import os
from dataclasses import dataclass, field

import numpy as np
from fairseq.data import Dictionary, data_utils
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.tasks import FairseqTask, register_task
from omegaconf import II

from saic_fairseq.caption_text import caption_text
from saic_fairseq.data.coco_captions import first_line_of_each_image, read_image_ids
from saic_fairseq.data.image_caption_dataset import ImageCaptionDataset
from saic_fairseq.errors import SAICInputError
from saic_fairseq.features.feature_store import FeatureStore
from saic_fairseq.generators import DECODER_STEPS
from saic_fairseq.generators.saic_generator import OUTLINE_LENGTHS

logger = logging.getLogger(__name__)

DECODING_MODES = ChoiceEnum(["aic", "saic", "naic", "ir-naic"])
OUTLINE_LENGTH_CHOICES = ChoiceEnum(list(OUTLINE_LENGTHS))
DECODER_STEP_CHOICES = ChoiceEnum(list(DECODER_STEPS))
MASK, BOG = "<mask>", "<bog>"


def dictionary_text(dictionary):
    """The dictionary as the text of a dict.txt file (what checkpoints carry)."""
    text = io.StringIO()
    dictionary.save(text)
    return text.getvalue()


@dataclass
class SAICCaptioningConfig(FairseqDataclass):
    data: str = field(default="", metadata={"help": "data directory (dict.txt, {split}.bin/.idx/.ids)"})
    features: str = field(default="", metadata={"help": "HDF5 file of image features (one entry per image id)"})
    max_target_positions: int = field(default=64, metadata={"help": "longest caption (tokens with </s>)"})
    group_size: int = field(default=4, metadata={"help": "k: words per group (Outliner writes the first of each)"})
    decoding: DECODING_MODES = field(default="saic", metadata={"help": "generation mode"})
    outline_beam: int = field(default=1, metadata={"help": "M_out: Outliner beam (saic)"})
    fill_beam: int = field(
        default=1, metadata={"help": "M_fill: outlines filled (saic, <= M_out); length candidates (naic, ir-naic)"}
    )
    iterations: int = field(default=5, metadata={"help": "I: mask-predict iterations (ir-naic)"})
    fill_iterations: int = field(
        default=0, metadata={"help": "saic: extra Filler passes that re-mask and re-predict the least confident "
                             "filled words, outline words fixed (0: the paper's SAIC)"}
    )
    outline_length: OUTLINE_LENGTH_CHOICES = field(
        default=OUTLINE_LENGTHS[0], metadata={"help": "saic with --outline-beam 1: length-head = the Outliner writes "
                                         "ceil(N/k) words, N the length head's caption length, and makes no </s> step "
                                         "(an earlier </s> still ends it); eos = it writes until its own </s> (the "
                                         "paper). A beam-searched outline always ends with its own </s>"}
    )
    decoder_step: DECODER_STEP_CHOICES = field(
        default=DECODER_STEPS[0], metadata={"help": "static = our searches (greedy, beam, mask-predict) on a "
                                        "preallocated cache, the image's keys and values projected once; "
                                        "incremental = fairseq's incremental state and SequenceGenerator for beams. "
                                        "The same captions and scores; options our beam search does not reproduce "
                                        "(n-gram blocking, sampling, ensembles) use SequenceGenerator either way"}
    )
    compile: bool = field(
        default=False, metadata={"help": "with --decoder-step static: the cached decoder step under torch.compile "
                                 "(CPU: inductor with its C++ wrapper, needs a C++ compiler; the first calls "
                                 "compile), captured in CUDA graphs on a GPU; on a CPU the full passes (Filler, "
                                 "NAIC, IR-NAIC), the visual encoder and SAIC's merge compiled too"}
    )
    keep_repeats: bool = field(
        default=False, metadata={"help": "saic, naic, ir-naic: keep a word predicted in parallel that equals the "
                                 "word before it (default: drop it, the usual non-autoregressive post-processing; "
                                 "Outliner words are never dropped)"}
    )
    unique_images: bool = field(
        default=False, metadata={"help": "one sample per image (its first caption line): for generation"}
    )
    batch_by_image: bool = field(
        default=False, metadata={"help": "training batches hold the captions of each image together and the encoder "
                                 "runs once per image, not once per caption (real photos have 5 captions each: "
                                 "about 2x faster training)"}
    )
    eval_cider: bool = field(
        default=False,
        metadata={"help": "caption the valid images with --decoding at every validation and log CIDEr-D "
                  "(use --best-checkpoint-metric cider --maximize-best-checkpoint-metric)"},
    )
    seed: int = II("common.seed")
    valid_subset: str = II("dataset.valid_subset")
    train_subset: str = II("dataset.train_subset")


@register_task("saic_captioning", dataclass=SAICCaptioningConfig)
class SAICCaptioningTask(FairseqTask):
    """Image captioning with one model and four decoding modes (aic, saic, naic, ir-naic)."""

    cfg: SAICCaptioningConfig

    def __init__(self, cfg, dictionary, store):
        super().__init__(cfg)
        self.dictionary = dictionary
        self.store = store
        self.mask_idx = dictionary.index(MASK)
        self.bog_idx = dictionary.index(BOG)
        # saved in every checkpoint (fairseq's task state), so a model loads without its data directory
        self.state.merge_state_dict({"dictionary": dictionary_text(dictionary)})
        if store is not None and store.backbone:  # and captions new photos through the same backbone
            self.state.merge_state_dict({"backbone": store.backbone})

    @property
    def backbone(self):
        """The BackboneSpec of the features this model was trained on (the checkpoint's task
        state), or None when they came from no recorded backbone (region features, the proxy)."""
        from saic_fairseq.features.backbones import BackboneSpec

        record = self.state.state_dict.get("backbone")
        return BackboneSpec.from_json(record) if record else None

    @classmethod
    def setup_task(cls, cfg, dictionary_text=None, **kwargs):
        """``dictionary_text``: the dictionary a checkpoint carries (``model_loading``); without
        it the dictionary is ``DATA/dict.txt``."""
        if dictionary_text is not None:
            dictionary = cls.load_dictionary(io.StringIO(dictionary_text))
        else:
            dictionary = cls.load_dictionary(os.path.join(cfg.data, "dict.txt"))
        store = FeatureStore(cfg.features) if cfg.features else None  # none: features come from images
        logger.info(f"dictionary: {len(dictionary)} types; features: "
                    + (f"{cfg.features} (width {store.dim})" if store else "none"))
        return cls(cfg, dictionary, store)

    @classmethod
    def load_dictionary(cls, filename):
        """fairseq's dictionary plus ``<mask>`` and ``<bog>``, added the same way at train and
        generate time so the embedding sizes of checkpoint and model always agree. ``filename``
        may be an open text stream."""
        if isinstance(filename, str) and not os.path.exists(filename):
            raise SAICInputError(filename, None, "dictionary not found: run fairseq-preprocess first")
        dictionary = Dictionary.load(filename)
        dictionary.add_symbol(MASK)
        dictionary.add_symbol(BOG)
        return dictionary

    @property
    def feature_dim(self):
        """Width of the feature file's arrays (None without ``--features``)."""
        return self.store.dim if self.store is not None else None

    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        prefix = os.path.join(self.cfg.data, split)
        if self.store is None:
            raise SAICInputError("--features", None, f"give the HDF5 feature file of the images of split {split!r}")
        captions = data_utils.load_indexed_dataset(prefix, self.dictionary)
        if captions is None:
            raise SAICInputError(prefix + ".bin", None, f"binarized split {split!r} not found")
        image_ids = read_image_ids(prefix + ".ids", expected_lines=len(captions))
        self.store.check_has(image_ids, prefix + ".ids")
        distill, distill_index = self._load_distillation(prefix, image_ids)
        lines = np.arange(len(captions))
        if self.cfg.unique_images:
            lines = first_line_of_each_image(image_ids)
        self.datasets[split] = ImageCaptionDataset(
            captions, image_ids, self.store, self.bog_idx, self.dictionary.pad(),
            distill=distill, distill_index=distill_index, lines=lines, shuffle=(split == "train"),
            by_image=self.cfg.batch_by_image and split == self.cfg.train_subset,
        )
        logger.info(f"{split}: {len(lines)} captions of {len(np.unique(image_ids))} images"
                    + (", with teacher captions" if distill is not None else ""))

    def _load_distillation(self, prefix, image_ids):
        """Teacher captions, aligned to caption lines: line by line when the id files agree,
        else the teacher caption of the same image."""
        if not os.path.exists(prefix + ".distill.bin"):
            return None, None
        distill = data_utils.load_indexed_dataset(prefix + ".distill", self.dictionary)
        distill_ids = read_image_ids(prefix + ".distill.ids", expected_lines=len(distill))
        if np.array_equal(distill_ids, image_ids):
            return distill, np.arange(len(image_ids))
        row_of_image = {}
        for row, image_id in enumerate(distill_ids.tolist()):
            row_of_image.setdefault(image_id, row)
        index = np.empty(len(image_ids), dtype=np.int64)
        for line, image_id in enumerate(image_ids.tolist()):
            if image_id not in row_of_image:
                raise SAICInputError(prefix + ".distill.ids", None, f"no teacher caption for image id {image_id} "
                                     f"(line {line + 1} of {prefix}.ids)")
            index[line] = row_of_image[image_id]
        return distill, index

    def valid_step(self, sample, model, criterion):
        """fairseq's validation loss, plus the CIDEr-D of captions of each image's first line."""
        loss, sample_size, logging_output = super().valid_step(sample, model, criterion)
        if self.cfg.eval_cider:
            total, count = self._cider_of_batch(model, sample)
            logging_output["_cider_sum"], logging_output["_cider_count"] = total, count
        return loss, sample_size, logging_output

    def _cider_of_batch(self, model, sample):
        from argparse import Namespace

        from saic_fairseq.evaluation.corpus_cider import CorpusCiderD
        from saic_fairseq.evaluation.reference_captions import ReferenceCaptions

        if getattr(self, "_cider", None) is None:
            self._valid_refs = ReferenceCaptions(
                os.path.join(self.cfg.data, f"{self.cfg.valid_subset.split(',')[0]}.refs.json"), "--eval-cider")
            self._cider = CorpusCiderD(self._valid_refs.all())
            self._cider_generator = self.build_generator([model], Namespace(beam=1))
        keep = sample["first_of_image"].nonzero().view(-1)
        if keep.numel() == 0:
            return 0.0, 0
        sub = {"id": sample["id"][keep], "net_input": {k: None if v is None else v[keep]
                                                       for k, v in sample["net_input"].items()}}
        hypos = self.inference_step(self._cider_generator, [model], sub)
        captions = [caption_text(self.dictionary, h[0]["tokens"])
                    for h in hypos]
        refs = self._valid_refs.lookup(sample["image_id"][keep].tolist())
        return float(self._cider.scores(captions, refs).sum()), len(captions)

    def reduce_metrics(self, logging_outputs, criterion):
        super().reduce_metrics(logging_outputs, criterion)
        count = sum(log.get("_cider_count", 0) for log in logging_outputs)
        if count:
            from fairseq import metrics

            metrics.log_scalar("cider", 100 * sum(log.get("_cider_sum", 0) for log in logging_outputs) / count,
                               count, round=2)

    def get_batch_iterator(self, dataset, *args, **kwargs):
        """fairseq's iterator; for the training set it also records the batches of an epoch
        (per worker), from which saic_loss derives the curriculum's T under --max-epoch."""
        iterator = super().get_batch_iterator(dataset, *args, **kwargs)
        if dataset is self.datasets.get(self.cfg.train_subset):
            self.train_batches_per_epoch = len(iterator)
        return iterator

    def max_positions(self):
        return self.cfg.max_target_positions

    @property
    def source_dictionary(self):
        return None

    @property
    def target_dictionary(self):
        return self.dictionary

    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None, **kwargs):
        """The generator of ``--decoding``; ``args`` is fairseq's generation config (beam, ...)."""
        from saic_fairseq.generators import build_caption_generator

        return build_caption_generator(self, models, args)

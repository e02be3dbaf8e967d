"""``saic_loss``: the training objective of paper Sec. 4.2 / Alg. 1.

Per sentence of a batch:
* hybrid distillation: the target is the raw caption with probability ``--p-hybr``, else the
  teacher's caption of the same image;
* curriculum: with probability p_g = (t / T) ** lambda the sentence trains the group-aware pair
  {Outliner(k), Filler(k)}, otherwise {AIC, NAIC};
* every part is label-smoothed cross entropy, summed; the length head (for naic / ir-naic)
  learns the word count of every sentence.
Each part and p_g are logged separately. In validation every sentence trains all four parts on
its raw caption, so valid losses are comparable across the curriculum.
"""
import math
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
import torch
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from omegaconf import II

from saic_fairseq.criterions.sentence_draws import sentence_uniforms
from saic_fairseq.errors import SAICInputError
from saic_fairseq.generators import layout_of
from saic_fairseq.models.saic_decoder import BIDIRECTIONAL, CAUSAL

PARTS = ("aic", "naic", "outliner", "filler")
#: what each training sentence's target is (paper Table 5): raw caption, teacher caption
#: (sequence-level distillation), or either with probability p_hybr (hybrid distillation)
DISTILLATION = ChoiceEnum(["hybrid", "raw", "sequence-level"])
HYBRID_STREAM, GROUP_STREAM = 0, 1


@dataclass
class SAICLossConfig(FairseqDataclass):
    label_smoothing: float = field(default=0.1, metadata={"help": "epsilon of label smoothing"})
    distillation: DISTILLATION = field(
        default="hybrid",
        metadata={"help": "training targets (Table 5): hybrid = raw caption with probability --p-hybr, else the "
                  "teacher's; raw = raw captions only (no teacher captions needed); sequence-level = the "
                  "teacher's captions only"},
    )
    p_hybr: float = field(
        default=0.5, metadata={"help": "hybrid distillation: probability of the raw caption (else the teacher's)"}
    )
    curriculum_lambda: float = field(default=1.0, metadata={"help": "lambda of p_g = (t / T) ** lambda"})
    curriculum_updates: int = field(
        default=0, metadata={"help": "T of the curriculum in updates (0: --max-update, else --max-epoch epochs)"}
    )
    fixed_p_g: Optional[float] = field(
        default=None, metadata={"help": "curriculum off (ablation -CL of Table 7): this constant p_g at every "
                                "update; 1 trains only the pair {Outliner, Filler}"}
    )
    length_loss_factor: float = field(default=0.1, metadata={"help": "weight of the length-prediction loss"})
    seed: int = II("common.seed")
    max_update: int = II("optimization.max_update")
    max_epoch: int = II("optimization.max_epoch")
    update_freq: List[int] = II("optimization.update_freq")


@register_criterion("saic_loss", dataclass=SAICLossConfig)
class SAICLoss(FairseqCriterion):
    def __init__(self, task, label_smoothing, distillation, p_hybr, curriculum_lambda, curriculum_updates, fixed_p_g,
                 length_loss_factor, seed, max_update, max_epoch=0, update_freq=(1,)):
        super().__init__(task)
        self.eps = label_smoothing
        self.p_hybr = {"raw": 1.0, "sequence-level": 0.0}.get(distillation, p_hybr)
        self.distillation = distillation
        self.curriculum_lambda = curriculum_lambda
        self.curriculum_updates = curriculum_updates or max_update
        self.max_epoch, self.update_freq = max_epoch, (list(update_freq) or [1])[0]
        self.fixed_p_g = fixed_p_g
        self.length_loss_factor = length_loss_factor
        self.seed = seed
        self.layout = layout_of(task)
        if fixed_p_g is None and not (self.curriculum_updates or max_epoch):
            raise ValueError("saic_loss: the curriculum needs T: set --max-update, --max-epoch or "
                             "--curriculum-updates (or a constant --fixed-p-g)")

    def total_updates(self):
        """T: --curriculum-updates, else --max-update, else --max-epoch x the updates of an epoch
        (known once fairseq has batched the training set)."""
        if not self.curriculum_updates:
            batches = getattr(self.task, "train_batches_per_epoch", None)
            if not batches:
                raise ValueError("saic_loss: training by --max-epoch, but the training batches are not known yet; "
                                 "set --curriculum-updates")
            self.curriculum_updates = self.max_epoch * math.ceil(batches / self.update_freq)
        return self.curriculum_updates

    def group_probability(self, num_updates):
        """p_g of paper eq. 9 at update ``num_updates``."""
        if self.fixed_p_g is not None:
            return float(self.fixed_p_g)
        return min(1.0, num_updates / self.total_updates()) ** self.curriculum_lambda

    def _targets(self, sample, num_updates):
        """Hybrid distillation: per sentence the raw caption (prob p_hybr) or the teacher's."""
        pad = self.padding_idx
        raw = [t[t.ne(pad)] for t in sample["target"]]
        if self.p_hybr >= 1.0:
            return raw
        if "distill_target" not in sample:
            what = f"--distillation {self.distillation}" + (f" --p-hybr {self.p_hybr}" if self.distillation == "hybrid"
                                                            else "")
            raise SAICInputError(
                f"{self.task.cfg.data}/train.distill.bin", None,
                f"{what} needs teacher captions; write them first (preprocess.distill_targets), "
                "or pass --distillation raw",
            )
        use_raw = sentence_uniforms(self.seed, num_updates, sample["id"].cpu(), HYBRID_STREAM) < self.p_hybr
        return [r if keep else d[d.ne(pad)] for r, d, keep in zip(raw, sample["distill_target"], use_raw)]

    def _part(self, model, encoder_out, targets, rows, name):
        """Summed (loss, nll, tokens) of one sample kind over the sentences ``rows``."""
        layout = self.layout
        make, layout_kind, positions = {
            "aic": (layout.aic_sample, CAUSAL, layout.positions),
            "naic": (layout.naic_sample, BIDIRECTIONAL, layout.positions),
            "outliner": (layout.outliner_sample, CAUSAL, layout.outliner_positions),
            "filler": (layout.filler_sample, BIDIRECTIONAL, layout.positions),
        }[name]
        inputs, target = layout.collate([make(targets[i]) for i in rows])
        index = torch.tensor(rows, device=inputs.device)
        logits, _ = model.decoder(
            inputs, model.encoder.reorder_encoder_out(encoder_out, index),
            positions=positions(inputs.size(1), inputs.device), self_attn_layout=layout_kind,
        )
        lprobs = torch.log_softmax(logits.float(), dim=-1).view(-1, logits.size(-1))
        loss, nll = label_smoothed_nll_loss(lprobs, target.view(-1, 1), self.eps, ignore_index=self.padding_idx)
        return loss, nll, int(target.ne(self.padding_idx).sum())

    def plan(self, sample, num_updates, training):
        """Who trains what: (targets, AIC/NAIC rows, Outliner/Filler rows, p_g or None).

        Every draw is a function of (seed, update, sample id) only (sentence_draws.py): a
        resumed, accumulated or distributed run makes the same choice for the same sentence,
        and the curriculum follows the restored update number.
        """
        bsz = sample["target"].size(0)
        if not training:
            everyone = list(range(bsz))
            return [t[t.ne(self.padding_idx)] for t in sample["target"]], everyone, everyone, None
        p_g = self.group_probability(num_updates)
        targets = self._targets(sample, num_updates)
        grouped = sentence_uniforms(self.seed, num_updates, sample["id"].cpu(), GROUP_STREAM) < p_g
        return targets, np.flatnonzero(~grouped).tolist(), np.flatnonzero(grouped).tolist(), p_g

    def forward(self, model, sample, reduce=True):
        net_input = sample["net_input"]
        targets, plain, group, p_g = self.plan(sample, getattr(model, "num_updates", 0), model.training)
        encoder_out = model.encoder(net_input["features"], net_input["padding_mask"], net_input.get("boxes"))
        bsz = len(targets)
        # the same keys on every worker, whatever its batch holds: fairseq all-reduces them as one vector
        log = {"nsentences": bsz, "ntokens": sample["ntokens"], "p_g_sum": 0.0, "p_g_count": 0}
        log.update({f"{name}_{stat}": 0.0 for name in PARTS for stat in ("loss", "ntokens")})
        if p_g is not None:
            log.update(p_g_sum=p_g * bsz, p_g_count=bsz)
        loss = nll_loss = 0.0
        sample_size = 0
        for name, rows in (("aic", plain), ("naic", plain), ("outliner", group), ("filler", group)):
            if not rows:
                continue
            part_loss, part_nll, tokens = self._part(model, encoder_out, targets, rows, name)
            loss, nll_loss, sample_size = loss + part_loss, nll_loss + part_nll, sample_size + tokens
            log[f"{name}_loss"], log[f"{name}_ntokens"] = float(part_loss.detach()), float(tokens)
        max_len = model.decoder.max_positions()
        lengths = torch.tensor([min(t.numel() - 1, max_len) for t in targets], device=sample["target"].device)
        length_lprobs = torch.log_softmax(model.decoder.length_logits(encoder_out).float(), dim=-1)
        length_loss = -length_lprobs.gather(1, lengths[:, None]).sum()
        loss = loss + self.length_loss_factor * length_loss
        log.update(loss=loss.data, nll_loss=nll_loss.data, length_loss=length_loss.data, sample_size=sample_size)
        return loss, sample_size, log

    @staticmethod
    def reduce_metrics(logging_outputs):
        total = lambda key: sum(log.get(key, 0) for log in logging_outputs)  # noqa: E731
        sample_size, nsentences = total("sample_size"), total("nsentences")
        ln2 = math.log(2)
        metrics.log_scalar("loss", total("loss") / max(sample_size, 1) / ln2, sample_size, round=3)
        metrics.log_scalar("nll_loss", total("nll_loss") / max(sample_size, 1) / ln2, sample_size, round=3)
        metrics.log_derived("ppl", lambda meters: 2 ** meters["nll_loss"].avg)
        for name in PARTS:
            tokens = total(f"{name}_ntokens")
            if tokens:
                metrics.log_scalar(f"{name}_loss", total(f"{name}_loss") / tokens / ln2, tokens, round=3)
        if nsentences:
            metrics.log_scalar("length_loss", total("length_loss") / nsentences / ln2, nsentences, round=3)
        if total("p_g_count"):
            metrics.log_scalar("p_g", total("p_g_sum") / total("p_g_count"), total("p_g_count"), round=3)

    @staticmethod
    def logging_outputs_can_be_summed():
        return True

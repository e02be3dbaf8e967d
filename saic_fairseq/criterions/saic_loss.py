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
import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from omegaconf import II

from saic_fairseq.criterions.sentence_draws import masked_words, sentence_uniforms
from saic_fairseq.errors import SAICInputError
from saic_fairseq.modules.outliner_filler_layout import KINDS, MixedBatch, layout_of

#: what each training sentence's target is (paper Table 5): raw caption, teacher caption
#: (sequence-level distillation), or either with probability p_hybr (hybrid distillation)
DISTILLATION = ChoiceEnum(["hybrid", "raw", "sequence-level"])
HYBRID_STREAM, GROUP_STREAM, CMLM_STREAM = 0, 1, 2  # CMLM_STREAM + 1 + i: word i's draw
#: what the NAIC part sees: every word masked (the paper's one-pass NAIC) or CMLM's 1..N
NAIC_MASKING = ChoiceEnum(["all", "cmlm"])
#: the decoder passes of a training step: sample kinds of about the same width share a pass
PASSES = (("aic", "naic", "filler"), ("outliner",))


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
    naic_masking: NAIC_MASKING = field(
        default="all",
        metadata={"help": "NAIC samples in training: all = every word masked (the paper's NAIC); cmlm = a count "
                  "uniform in 1..N of the N words masked, the rest shown, loss on the masked ones (mask-predict's "
                  "training, Ghazvininejad et al. 2019: the fair IR-NAIC baseline, e.g. with --fixed-p-g 0)"},
    )
    seed: int = II("common.seed")
    max_update: int = II("optimization.max_update")
    max_epoch: int = II("optimization.max_epoch")
    update_freq: List[int] = II("optimization.update_freq")


@register_criterion("saic_loss", dataclass=SAICLossConfig)
class SAICLoss(FairseqCriterion):
    def __init__(self, task, label_smoothing, distillation, p_hybr, curriculum_lambda, curriculum_updates, fixed_p_g,
                 length_loss_factor, seed, max_update, max_epoch=0, update_freq=(1,), naic_masking="all"):
        super().__init__(task)
        self.eps = label_smoothing
        self.p_hybr = {"raw": 1.0, "sequence-level": 0.0}.get(distillation, p_hybr)
        self.distillation = distillation
        self.curriculum_lambda = curriculum_lambda
        self.curriculum_updates = curriculum_updates or max_update
        self.max_epoch, self.update_freq = max_epoch, (list(update_freq) or [1])[0]
        self.fixed_p_g = fixed_p_g
        self.length_loss_factor = length_loss_factor
        self.naic_masking = naic_masking
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
        """Hybrid distillation: per sentence the raw caption (prob p_hybr) or the teacher's.
        Returns (B, L) right-padded targets."""
        raw = sample["target"]
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
        teacher = sample["distill_target"]
        width = max(raw.size(1), teacher.size(1))
        raw, teacher = (F.pad(t, (0, width - t.size(1)), value=self.padding_idx) for t in (raw, teacher))
        use_raw = sentence_uniforms(self.seed, num_updates, sample["id"].cpu(), HYBRID_STREAM) < self.p_hybr
        use_raw = torch.from_numpy(use_raw).to(raw.device)
        # a teacher caption that ran to the length limit never ended (a repetition loop): the raw
        # caption instead, and one such row does not pad the whole batch to the limit
        use_raw |= teacher.ne(self.padding_idx).sum(-1) >= self.task.cfg.max_target_positions
        targets = torch.where(use_raw[:, None], raw, teacher)
        return targets[:, : int(targets.ne(self.padding_idx).sum(-1).max())]

    def plan(self, sample, num_updates, training):
        """Who trains what: ((B, L) targets, AIC/NAIC rows, Outliner/Filler rows, p_g or None).

        Every draw is a function of (seed, update, sample id) only (sentence_draws.py): a
        resumed, accumulated or distributed run makes the same choice for the same sentence,
        and the curriculum follows the restored update number.
        """
        bsz = sample["target"].size(0)
        if not training:
            everyone = list(range(bsz))
            return sample["target"], everyone, everyone, None
        p_g = self.group_probability(num_updates)
        targets = self._targets(sample, num_updates)
        grouped = sentence_uniforms(self.seed, num_updates, sample["id"].cpu(), GROUP_STREAM) < p_g
        return targets, np.flatnonzero(~grouped).tolist(), np.flatnonzero(grouped).tolist(), p_g

    def forward(self, model, sample, reduce=True):
        """Each sentence's two parts (AIC + NAIC, or Outliner + Filler) are rows of mixed
        batches with per-row positions and self-attention masks, decoded in two passes (the
        short Outliner rows apart from the rest, so that they are not padded to caption
        length); only the scored positions go through the output projection, once."""
        net_input = sample["net_input"]
        targets, plain, group, p_g = self.plan(sample, getattr(model, "num_updates", 0), model.training)
        encoder_out = model.encoder(net_input["features"], net_input["padding_mask"], net_input.get("boxes"))
        device = targets.device
        # the image row of each sentence: one encoder entry per image with --batch-by-image
        image_of = net_input.get("encoder_rows")
        image_of = torch.arange(targets.size(0), device=device) if image_of is None else image_of
        plain, group = (torch.tensor(rows, dtype=torch.long, device=device) for rows in (plain, group))
        rows = {"aic": plain, "naic": plain, "outliner": group, "filler": group}
        features, outputs, kinds = [], [], []
        for pass_kinds in PASSES:
            if all(rows[kind].numel() == 0 for kind in pass_kinds):
                continue
            batch = MixedBatch(self.layout, targets, {kind: rows[kind] for kind in pass_kinds})
            if batch.rows.numel() == 0:  # k = 1: a Filler-only pass has nothing to fill
                continue
            if self.naic_masking == "cmlm" and model.training:
                self.show_unmasked_words(batch, sample["id"], getattr(model, "num_updates", 0))
            states, _ = model.decoder(
                batch.inputs, encoder_out, positions=batch.positions, self_attn_layout=batch.attn_mask,
                features_only=True, encoder_rows=image_of[batch.rows],
            )
            scored = batch.outputs.ne(self.padding_idx)
            features.append(states[scored])
            outputs.append(batch.outputs[scored])
            kinds.append(batch.kinds[:, None].expand_as(scored)[scored])
        logits = model.decoder.output_layer(torch.cat(features))  # (scored tokens, V)
        lprobs = torch.log_softmax(logits.float(), dim=-1)
        token_loss, token_nll = label_smoothed_nll_loss(lprobs, torch.cat(outputs), self.eps, reduce=False)
        loss, nll_loss, sample_size = token_loss.sum(), token_nll.sum(), token_loss.numel()

        token_kinds = torch.cat(kinds)
        part_loss = token_loss.detach().new_zeros(len(KINDS)).index_add_(0, token_kinds, token_loss.detach())
        part_tokens = torch.bincount(token_kinds, minlength=len(KINDS))
        bsz = targets.size(0)
        # the same keys on every worker, whatever its batch holds: fairseq all-reduces them as one vector
        log = {"nsentences": bsz, "ntokens": sample["ntokens"], "p_g_sum": 0.0, "p_g_count": 0}
        for name, part, tokens in zip(KINDS, part_loss.tolist(), part_tokens.tolist()):
            log[f"{name}_loss"], log[f"{name}_ntokens"] = float(part), float(tokens)
        if p_g is not None:
            log.update(p_g_sum=p_g * bsz, p_g_count=bsz)

        lengths = (targets.ne(self.padding_idx).sum(-1) - 1).clamp(max=model.decoder.max_positions())
        length_lprobs = torch.log_softmax(model.decoder.length_logits(encoder_out).float(), dim=-1)[image_of]
        length_loss = -length_lprobs.gather(1, lengths[:, None]).sum()
        loss = loss + self.length_loss_factor * length_loss
        log.update(loss=loss.data, nll_loss=nll_loss.data, length_loss=length_loss.data, sample_size=sample_size)
        return loss, sample_size, log

    def show_unmasked_words(self, batch, sample_ids, num_updates):
        """CMLM samples in place of all-mask NAIC rows of ``batch`` (a MixedBatch): each row
        shows the words :func:`masked_words` does not hide, and is scored on the hidden ones."""
        naic = batch.kinds.eq(KINDS.index("naic")).nonzero().squeeze(1)
        if naic.numel() == 0:
            return
        words = batch.outputs[naic]  # (n, T): the words, padding after them
        hidden = masked_words(self.seed, num_updates, sample_ids[batch.rows[naic]].cpu(),
                              words.ne(self.padding_idx).sum(-1).cpu(), words.size(1), CMLM_STREAM)
        hidden = torch.from_numpy(hidden).to(words.device)
        batch.inputs[naic] = torch.where(hidden | words.eq(self.padding_idx), batch.inputs[naic], words)
        batch.outputs[naic] = words.masked_fill(~hidden, self.padding_idx)

    @staticmethod
    def reduce_metrics(logging_outputs):
        total = lambda key: sum(log.get(key, 0) for log in logging_outputs)  # noqa: E731
        sample_size, nsentences = total("sample_size"), total("nsentences")
        ln2 = math.log(2)
        metrics.log_scalar("loss", total("loss") / max(sample_size, 1) / ln2, sample_size, round=3)
        metrics.log_scalar("nll_loss", total("nll_loss") / max(sample_size, 1) / ln2, sample_size, round=3)
        metrics.log_derived("ppl", lambda meters: 2 ** meters["nll_loss"].avg)
        for name in KINDS:
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

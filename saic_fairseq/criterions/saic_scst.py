"""``saic_scst``: self-critical sequence training (Rennie et al. 2017) of the AIC teacher.

Per image of a batch (paper Sec. 3.2: the teacher is trained with cross entropy, then SCST):
1. without gradients, draw ``--scst-samples`` captions left to right, and the greedy caption;
2. reward every caption with CIDEr-D against all references of its image, the document
   frequencies being the training references' (computed once, cached beside them);
3. baseline: the greedy caption's reward (``--scst-baseline greedy``, the paper's reference) or
   the mean reward of the image's other samples (``mean``);
4. one teacher-forced pass over all samples gives their log-probabilities, and the loss is
   -sum (reward - baseline) * log p(sample): no decoding graph is kept, so memory is that of
   one cross-entropy step over N captions per image.
Validation reports -CIDEr-D of the greedy captions as the loss (lower is better), so fairseq's
checkpoint_best is the best greedy CIDEr-D. Start from an XE checkpoint with
``--finetune-from-model``; ``--unique-images`` makes each image one sample per epoch.
"""
import os
from dataclasses import dataclass, field

import torch
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from omegaconf import II

from saic_fairseq.caption_text import caption_text
from saic_fairseq.criterions.scst_sampler import sample_captions
from saic_fairseq.evaluation.corpus_cider import CorpusCiderD
from saic_fairseq.evaluation.reference_captions import ReferenceCaptions
from saic_fairseq.modules.outliner_filler_layout import aic_inputs, layout_of, never_generated

BASELINES = ChoiceEnum(["greedy", "mean"])


@dataclass
class SAICSCSTConfig(FairseqDataclass):
    scst_samples: int = field(default=5, metadata={"help": "captions sampled per image"})
    scst_baseline: BASELINES = field(
        default="mean", metadata={"help": "reward baseline: the mean CIDEr-D of the image's other samples (needs "
                                  "--scst-samples >= 2), or the greedy caption's (the paper's reference)"}
    )
    scst_max_len: int = field(default=0, metadata={"help": "longest sampled caption in tokens (0: the task's)"})
    scst_document_frequency: str = field(
        default="", metadata={"help": "cache of the training references' CIDEr-D document frequencies "
                              "(default: DATA/{train subset}.cider-df.json)"}
    )
    seed: int = II("common.seed")
    train_subset: str = II("dataset.train_subset")
    valid_subset: str = II("dataset.valid_subset")


@register_criterion("saic_scst", dataclass=SAICSCSTConfig)
class SAICSCSTCriterion(FairseqCriterion):
    def __init__(self, task, scst_samples, scst_baseline, scst_max_len, scst_document_frequency, seed, train_subset,
                 valid_subset):
        super().__init__(task)
        if scst_samples < 1 or (scst_baseline == "mean" and scst_samples < 2):
            raise ValueError(f"--scst-samples {scst_samples}: the {scst_baseline} baseline needs at least "
                             f"{2 if scst_baseline == 'mean' else 1}")
        self.samples, self.baseline = scst_samples, scst_baseline
        self.max_len = scst_max_len or task.cfg.max_target_positions
        data = task.cfg.data
        self.references = {"train": ReferenceCaptions(os.path.join(data, f"{train_subset}.refs.json"), "SCST")}
        valid = os.path.join(data, f"{valid_subset.split(',')[0]}.refs.json")
        self.valid_path = valid
        self.cider = CorpusCiderD.cached(
            self.references["train"], scst_document_frequency or os.path.join(data, f"{train_subset}.cider-df.json"))
        self.forbidden = never_generated(task.target_dictionary, layout_of(task))
        self.torch_generator = torch.Generator().manual_seed(seed)

    def _refs(self, training):
        if not training and "valid" not in self.references:
            self.references["valid"] = ReferenceCaptions(self.valid_path, "SCST validation")
        return self.references["train" if training else "valid"]

    def rewards(self, tokens, references):
        """CIDEr-D of each caption row of ``tokens`` against its references: (B',) float tensor."""
        d = self.task.target_dictionary
        captions = [caption_text(d, row) for row in tokens]
        return torch.tensor(self.cider.scores(captions, references), dtype=torch.double)

    def _decode(self, model, encoder_out, rows, greedy):
        d = self.task.target_dictionary
        encoder_out = model.encoder.reorder_encoder_out(encoder_out, rows)
        generator = None if greedy or self.torch_generator.device != rows.device else self.torch_generator
        return sample_captions(model.decoder, encoder_out, self.task.bog_idx, d.eos(), d.pad(), self.max_len,
                               self.forbidden, greedy=greedy, generator=generator)

    def forward(self, model, sample, reduce=True):
        net_input = sample["net_input"]
        if net_input.get("encoder_rows") is not None:
            raise ValueError("saic_scst samples captions per image: train it without --batch-by-image")
        training = model.training
        references = self._refs(training).lookup(sample["image_id"].tolist())
        bsz = len(references)
        rows = torch.arange(bsz, device=sample["image_id"].device)
        with torch.no_grad():
            model.eval()  # decode without dropout; the teacher-forced pass below uses the model's mode
            try:
                encoder_out = model.encoder(net_input["features"], net_input["padding_mask"], net_input.get("boxes"))
                greedy = self._decode(model, encoder_out, rows, greedy=True)
                sampled = self._decode(model, encoder_out, rows.repeat_interleave(self.samples), greedy=False) \
                    if training else None
            finally:
                model.train(training)
        greedy_reward = self.rewards(greedy, references)
        log = {"nsentences": bsz, "ntokens": int(greedy.ne(self.padding_idx).sum()), "greedy_cider_sum":
               float(greedy_reward.sum()), "reward_sum": 0.0, "baseline_sum": 0.0, "nsamples": 0}
        if not training:
            loss = -greedy_reward.sum()
            log.update(loss=float(loss), sample_size=bsz)
            return loss.to(rows.device).requires_grad_(False), bsz, log
        n = self.samples
        reward = self.rewards(sampled, [refs for refs in references for _ in range(n)]).view(bsz, n)
        if self.baseline == "greedy":
            baseline = greedy_reward[:, None].expand(bsz, n)
        else:
            baseline = (reward.sum(1, keepdim=True) - reward) / (n - 1)
        log_prob = self.sequence_log_probs(model, net_input, rows.repeat_interleave(n), sampled)
        advantage = (reward - baseline).view(-1).to(log_prob)
        loss = -(advantage * log_prob).sum()
        log.update(loss=float(loss.detach()), sample_size=bsz * n, reward_sum=float(reward.sum()),
                   baseline_sum=float(baseline.sum()), nsamples=bsz * n)
        return loss, bsz * n, log

    def sequence_log_probs(self, model, net_input, rows, tokens):
        """One teacher-forced pass: (B',) summed log-probabilities of each caption of ``tokens``."""
        pad = self.padding_idx
        encoder_out = model.encoder(net_input["features"], net_input["padding_mask"], net_input.get("boxes"))
        encoder_out = model.encoder.reorder_encoder_out(encoder_out, rows)
        logits, _ = model.decoder(aic_inputs(tokens, self.task.bog_idx, pad), encoder_out)
        lprobs = torch.log_softmax(logits.float(), dim=-1).gather(-1, tokens[..., None]).squeeze(-1)
        return lprobs.masked_fill(tokens.eq(pad), 0.0).sum(-1)

    @staticmethod
    def reduce_metrics(logging_outputs):
        total = lambda key: sum(log.get(key, 0) for log in logging_outputs)  # noqa: E731
        sample_size, nsentences, nsamples = total("sample_size"), total("nsentences"), total("nsamples")
        metrics.log_scalar("loss", total("loss") / max(sample_size, 1), sample_size, round=3)
        if nsentences:
            metrics.log_scalar("greedy_cider", 100 * total("greedy_cider_sum") / nsentences, nsentences, round=2)
        if nsamples:
            metrics.log_scalar("reward", 100 * total("reward_sum") / nsamples, nsamples, round=2)
            metrics.log_scalar("baseline", 100 * total("baseline_sum") / nsamples, nsamples, round=2)

    @staticmethod
    def logging_outputs_can_be_summed():
        return True


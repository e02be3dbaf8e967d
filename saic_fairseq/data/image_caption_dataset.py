"""Binarized captions + lazily read image features (+ optional teacher captions) as one
fairseq dataset: what ``saic_captioning`` hands to fairseq's batching."""
import numpy as np
import torch
from fairseq.data import FairseqDataset, data_utils

from saic_fairseq.data.coco_captions import first_line_of_each_image
from saic_fairseq.modules.outliner_filler_layout import aic_inputs


def collate_features(features, boxes=None):
    """Pad (R_i, D) feature tensors to (B, R_max, D) with a (B, R_max) padding mask (True at
    padding); boxes (R_i, 4) likewise when every image has them, else None."""
    regions = [f.size(0) for f in features]
    batch, width = len(features), features[0].size(1)
    padded = features[0].new_zeros(batch, max(regions), width)
    padding_mask = torch.ones(batch, max(regions), dtype=torch.bool)
    has_boxes = boxes is not None and all(b is not None for b in boxes)
    padded_boxes = padded.new_zeros(batch, max(regions), 4) if has_boxes else None
    for i, r in enumerate(regions):
        padded[i, :r] = features[i]
        padding_mask[i, :r] = False
        if has_boxes:
            padded_boxes[i, :r] = boxes[i]
    return padded, padding_mask, padded_boxes


class ImageCaptionDataset(FairseqDataset):
    """One item per caption line.

    Args:
        captions: fairseq indexed dataset of caption tokens (each ending in </s>).
        image_ids: (N,) int64 image id of each caption line.
        store: a FeatureStore; features are read on access only.
        bog: index of ``<bog>``, the first input token of left-to-right decoding.
        pad: padding index.
        distill: optional indexed dataset of teacher captions, and ``distill_index`` (N,)
            giving the teacher-caption row of every caption line.
        lines: optional caption-line numbers to keep (item i is line ``lines[i]``).
        shuffle: shuffle before sorting by length (training).
        by_image: order the captions image by image (images sorted by their longest caption,
            shuffled among equals), so that a batch holds every caption of most of its images,
            and collate each image's features once: ``net_input["encoder_rows"]`` (B,) then
            gives the image row of every caption and the encoder runs once per image.
    """

    def __init__(self, captions, image_ids, store, bog, pad, distill=None, distill_index=None, lines=None,
                 shuffle=True, by_image=False):
        self.captions = captions
        self.lines = np.arange(len(captions)) if lines is None else np.asarray(lines, dtype=np.int64)
        self.image_ids = np.asarray(image_ids, dtype=np.int64)[self.lines]
        self.store = store
        self.bog, self.pad = bog, pad
        self.distill = distill
        self.distill_index = None if distill_index is None else np.asarray(distill_index)[self.lines]
        self.shuffle = shuffle
        self.by_image = by_image
        self.sizes = np.asarray(captions.sizes, dtype=np.int64)[self.lines]
        self.first_of_image = np.zeros(len(self.lines), dtype=bool)
        self.first_of_image[first_line_of_each_image(self.image_ids)] = True

    def __getitem__(self, index):
        line = int(self.lines[index])
        image_id = int(self.image_ids[index])
        boxes = self.store.boxes(image_id)
        item = {
            "id": index,
            "image_id": image_id,
            "first_of_image": bool(self.first_of_image[index]),
            "features": torch.from_numpy(self.store.features(image_id)),
            "boxes": None if boxes is None else torch.from_numpy(boxes),
            "target": self.captions[line].long(),
        }
        if self.distill is not None:
            item["distill"] = self.distill[int(self.distill_index[index])].long()
        return item

    def __len__(self):
        return len(self.lines)

    def batches(self, count, batch_size, start=0):
        """Collated batches of items ``start`` .. ``count`` - 1 in order (scripts that caption or
        time the first images of a split, outside fairseq's length-sorted batching)."""
        for first in range(start, count, batch_size):
            yield self.collater([self[i] for i in range(first, min(count, first + batch_size))])

    def collater(self, samples):
        """Pad features to the batch's most regions (with a mask) and captions on the right.

        Returns fairseq's sample dict; ``net_input`` = {features (B, R, D), padding_mask
        (B, R) True at padding, boxes (B, R, 4) or None, prev_output_tokens (B, T)}; with
        ``by_image`` the features are (U, R, D) of the batch's U images and ``encoder_rows``
        (B,) the image row of each caption.
        """
        if not samples:
            return {}
        images = samples
        if self.by_image:  # each image's first caption brings its features; every caption its image's row
            row_of_image, images = {}, []
            for s in samples:
                if s["image_id"] not in row_of_image:
                    row_of_image[s["image_id"]] = len(images)
                    images.append(s)
            encoder_rows = torch.LongTensor([row_of_image[s["image_id"]] for s in samples])
        features, padding_mask, boxes = collate_features([s["features"] for s in images],
                                                         [s["boxes"] for s in images])
        batch = len(samples)
        target = data_utils.collate_tokens([s["target"] for s in samples], self.pad)
        prev_output_tokens = aic_inputs(target, self.bog, self.pad)
        batch_dict = {
            "id": torch.LongTensor([s["id"] for s in samples]),
            "image_id": torch.LongTensor([s["image_id"] for s in samples]),
            "first_of_image": torch.BoolTensor([s["first_of_image"] for s in samples]),
            "nsentences": batch,
            "ntokens": sum(s["target"].numel() for s in samples),
            "net_input": {
                "features": features,
                "padding_mask": padding_mask,
                "boxes": boxes,
                "prev_output_tokens": prev_output_tokens,
            },
            "target": target,
        }
        if self.by_image:
            batch_dict["net_input"]["encoder_rows"] = encoder_rows
        if self.distill is not None:
            batch_dict["distill_target"] = data_utils.collate_tokens([s["distill"] for s in samples], self.pad)
        return batch_dict

    def num_tokens(self, index):
        return int(self.sizes[index])

    def size(self, index):
        return int(self.sizes[index])

    def ordered_indices(self):
        if self.by_image:
            images, image_of_line = np.unique(self.image_ids, return_inverse=True)
            longest = np.zeros(len(images), dtype=np.int64)
            np.maximum.at(longest, image_of_line, self.sizes)
            order = np.random.permutation(len(images)) if self.shuffle else np.arange(len(images))
            rank = np.empty(len(images), dtype=np.int64)
            rank[order[np.argsort(longest[order], kind="mergesort")]] = np.arange(len(images))
            return np.lexsort((np.arange(len(self)), rank[image_of_line]))
        order = np.random.permutation(len(self)) if self.shuffle else np.arange(len(self))
        return order[np.argsort(self.sizes[order], kind="mergesort")]

    def batch_by_size(self, indices, max_tokens=None, max_sentences=None, required_batch_size_multiple=1):
        """fairseq's batching, keeping the last batch: fairseq-fixed 0.12.3.1 drops a final
        batch whose size is not a multiple of ``required_batch_size_multiple``, which would
        silently leave test images uncaptioned and training captions unseen."""
        batches = list(super().batch_by_size(indices, max_tokens, max_sentences, required_batch_size_multiple))
        covered = sum(len(b) for b in batches)
        if covered < len(indices):
            batches.append(np.asarray(indices[covered:], dtype=np.int64))
        return batches

    @property
    def supports_prefetch(self):
        return False

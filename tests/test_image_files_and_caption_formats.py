"""Which files saic-caption reads and how it reads them (folders, globs, EXIF, transparency),
and the caption files it writes and saic-evaluate reads back (COCO results, jsonl, COCO
annotation files)."""
import io
import json

import numpy as np
import pytest
from PIL import Image

from saic_fairseq.caption_formats import CaptionWriter, read_caption_results
from saic_fairseq.errors import SAICInputError
from saic_fairseq.evaluation.generate_output import read_captions
from saic_fairseq.evaluation.reference_captions import ReferenceCaptions, image_ids_by_file_name, read_references
from saic_fairseq.features.grid_features import load_image
from saic_fairseq.features.image_files import find_images, image_id_of


def test_find_images_in_files_folders_and_globs(tmp_path):
    for name in ("b.jpg", "a.PNG", "sub/c.jpeg", "sub/deeper/d.webp", ".hidden/e.jpg", "notes.txt", "f.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    folder = [str(tmp_path / n) for n in ("a.PNG", "b.jpg", "sub/c.jpeg", "sub/deeper/d.webp")]
    assert find_images([tmp_path]) == folder
    assert find_images([tmp_path / "f.txt", tmp_path / "*.jpg", tmp_path]) == [str(tmp_path / "f.txt")] + \
        [str(tmp_path / "b.jpg")] + [p for p in folder if not p.endswith("b.jpg")]
    assert find_images([str(tmp_path / "**" / "*.jpeg")]) == [str(tmp_path / "sub/c.jpeg")]
    with pytest.raises(SAICInputError, match="missing.jpg: no such file or folder"):
        find_images([tmp_path / "missing.jpg"])
    with pytest.raises(SAICInputError, match=r"\*.gif: names no image file"):
        find_images([tmp_path / "*.gif"])
    assert image_id_of("x/COCO_val2014_000000391895.jpg") == 391895
    with pytest.raises(SAICInputError, match="cat.jpg: file name ends in no image id"):
        image_id_of("cat.jpg")


def test_exif_orientation_transparency_and_grayscale(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = 255  # left half white
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    image.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    upright = load_image(tmp_path / "rotated.jpg")
    assert upright.shape == (40, 20, 3)
    assert upright[:20].mean() > 200 and upright[20:].mean() < 50  # the white half is now on top

    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:4, :, 3] = 255  # top half opaque red, bottom half fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")
    loaded = load_image(tmp_path / "clear.png")
    assert loaded.shape == (8, 8, 3) and (loaded[:4] == [255, 0, 0]).all() and (loaded[4:] == 255).all()

    Image.fromarray(np.full((5, 6), 77, np.uint8)).save(tmp_path / "gray.png")
    assert load_image(tmp_path / "gray.png").shape == (5, 6, 3)
    (tmp_path / "text.jpg").write_text("hello")
    with pytest.raises(SAICInputError, match="text.jpg: not a readable image"):
        load_image(tmp_path / "text.jpg")


def test_writer_formats_and_reading_them_back(tmp_path):
    candidates = [("a cat on a mat", -0.25), ("a cat", -0.5)]
    for fmt, nbest, expected in [
        ("tsv", None, "x.jpg\ta cat on a mat\n"),
        ("tsv", 2, "x.jpg\t-0.2500\ta cat on a mat\nx.jpg\t-0.5000\ta cat\n"),
        ("jsonl", None, '{"image": "x.jpg", "image_id": 42, "caption": "a cat on a mat", "score": -0.25}\n'),
        ("coco", 2, '[\n {\n  "image_id": 42,\n  "caption": "a cat on a mat"\n }\n]\n'),
    ]:
        handle = io.StringIO()
        writer = CaptionWriter(handle, fmt, nbest)
        writer.write("x.jpg", 42, candidates)
        writer.close()
        assert handle.getvalue() == expected, fmt
    with pytest.raises(SAICInputError, match="dog.jpg: --format coco needs an integer image id"):
        CaptionWriter(io.StringIO(), "coco").write("dog.jpg", None, candidates)

    (tmp_path / "results.json").write_text(json.dumps([{"image_id": 7, "caption": "a dog "},
                                                       {"image_id": "9", "caption": "a bird"}]))
    assert read_captions(tmp_path / "results.json") == {7: "a dog", 9: "a bird"}
    (tmp_path / "out.jsonl").write_text('{"image": "7", "image_id": 7, "caption": "a dog", "score": -1}\n')
    assert read_caption_results(tmp_path / "out.jsonl") == {7: "a dog"}
    assert read_caption_results(tmp_path / "results.json") == {7: "a dog", 9: "a bird"}
    (tmp_path / "bad.json").write_text(json.dumps([{"image_id": 7, "caption": "a"}, {"image_id": 8}]))
    with pytest.raises(SAICInputError, match="bad.json, result 2: needs 'image_id' and 'caption'"):
        read_captions(tmp_path / "bad.json")
    (tmp_path / "bad.jsonl").write_text('{"image_id": 7, "caption": "a"}\n{"image_id": 8, \n')
    with pytest.raises(SAICInputError, match="bad.jsonl, line 2: malformed JSON"):
        read_captions(tmp_path / "bad.jsonl")


def test_references_from_a_coco_annotation_file(tmp_path):
    path = tmp_path / "captions_val2014.json"
    path.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "COCO_val2014_000000000001.jpg"}, {"id": 2, "file_name": "b.jpg"},
                   {"id": 3, "file_name": "no_captions.jpg"}],
        "annotations": [{"id": 10, "image_id": 1, "caption": "A Dog."}, {"id": 11, "image_id": 1, "caption": "a pup"},
                        {"id": 12, "image_id": 2, "caption": "a bird"}]}))
    assert read_references(path) == {"1": ["A Dog.", "a pup"], "2": ["a bird"]}
    assert ReferenceCaptions(path)[1] == ["a dog", "a pup"]
    assert image_ids_by_file_name(path) == {"COCO_val2014_000000000001.jpg": 1, "b.jpg": 2, "no_captions.jpg": 3}
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(SAICInputError, match="list.json: expected {image id: \\[captions\\]}"):
        read_references(tmp_path / "list.json")

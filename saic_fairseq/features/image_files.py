"""Which image files a list of command-line inputs names, and the image id a file's name holds.

An input is a file (taken as given, whatever its extension), a folder (searched recursively
for files with an image extension, hidden files and folders skipped) or a glob pattern
(``photos/*.jpg``, ``photos/**/*.png``). Files come in the order given; a folder's and a
pattern's files in sorted order; a file named twice is kept once.
"""
import glob
import os
import re

from saic_fairseq.errors import SAICInputError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
TRAILING_NUMBER = re.compile(r"(\d+)$")


def is_image_name(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)


def images_in_folder(folder):
    """Sorted paths of the image files under ``folder`` (recursive, hidden entries skipped)."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [os.path.join(root, n) for n in files if not n.startswith(".") and is_image_name(n)]
    return sorted(found)


def find_images(inputs):
    """Image paths named by files, folders and glob patterns; an input that names nothing
    (a missing file, a pattern without matches, a folder without images) is an error."""
    paths, seen = [], set()
    for item in map(os.fspath, inputs):
        if os.path.isdir(item):
            found = images_in_folder(item)
        elif os.path.exists(item):
            found = [item]
        elif glob.has_magic(item):
            found = []
            for match in sorted(glob.glob(item, recursive=True)):
                found += images_in_folder(match) if os.path.isdir(match) else [match]
        else:
            raise SAICInputError(item, None, "no such file or folder")
        if not found:
            raise SAICInputError(item, None, "names no image file (extensions: " + " ".join(IMAGE_EXTENSIONS) + ")")
        for path in found:
            if path not in seen:
                seen.add(path)
                paths.append(path)
    return paths


def trailing_number(path):
    """The number a file's name ends with (``COCO_val2014_000000391895.jpg`` -> 391895), or None."""
    match = TRAILING_NUMBER.search(os.path.splitext(os.path.basename(path))[0])
    return int(match.group(1)) if match else None


def image_id_of(path):
    """``trailing_number(path)``, else a clear error naming the file."""
    image_id = trailing_number(path)
    if image_id is None:
        raise SAICInputError(path, None, "file name ends in no image id")
    return image_id


def image_ids_of_files(paths, ids_by_file_name=None):
    """{path: image id or None}: the id ``ids_by_file_name`` gives the file's name (a COCO
    annotation file's ``images``), else the number the name ends with, else None."""
    by_name = ids_by_file_name or {}
    return {path: by_name.get(os.path.basename(path), trailing_number(path)) for path in paths}

#!/usr/bin/python3
"""torchvision_preprocess transformer: image -> torchvision.transforms.Compose
built from env TRANSFORM (JSON {"<TransformClass>": {kwargs}, ...}, applied
in order to the PIL image, as upstream's transformer and a DataLoader's
transforms do) -> saved as env FORMAT (default JPEG; etl_args {"format": F}
overrides it), as AIStore's transformer_torchvision image does. TRANSFORM unset means the seed
document's preprocessing: Resize(256) then CenterCrop(224).

FORMAT npy is ours: the output's pixels as a NumPy .npy (uint8 HxWxC, or HxW
for grayscale; a pipeline that ends in a tensor gives that tensor's own dtype
and shape), which a DataLoader takes with np.load and torch.from_numpy
without decoding an image again.

A Resize directly followed by a CenterCrop runs as one step that resamples
only the pixels the crop keeps (resize_crop.py): the same bytes for less
CPU."""
import io
import json
import os
import sys

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "lib"))
import resize_crop  # noqa: E402
import transformer_http  # noqa: E402

DEFAULT_TRANSFORM = '{"Resize": {"size": 256}, "CenterCrop": {"size": 224}}'


def build_pipeline(raw):
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as e:
        sys.exit(f"torchvision_preprocess: TRANSFORM {raw!r} is not JSON: {e}")
    if not isinstance(spec, dict):
        sys.exit("torchvision_preprocess: TRANSFORM must be a JSON object of {name: kwargs}")
    steps = []
    for name, kwargs in spec.items():
        cls = getattr(transforms, name, None)
        if not isinstance(cls, type):
            sys.exit(f"torchvision_preprocess: torchvision.transforms has no {name!r}")
        try:
            steps.append(cls(**(kwargs or {})))
        except (TypeError, ValueError) as e:
            sys.exit(f"torchvision_preprocess: {name}({kwargs}): {e}")
    # a Resize then a CenterCrop resample only the pixels kept (the same bytes)
    return transforms.Compose(resize_crop.fuse(steps))


PIPELINE = build_pipeline(transformer_http.env("TRANSFORM", DEFAULT_TRANSFORM))
FORMAT = transformer_http.env("FORMAT", "JPEG").strip().upper()
if FORMAT == "JPG":
    FORMAT = "JPEG"
TO_PIL = transforms.ToPILImage()
# JPEG out: a baseline JPEG at quality 75 with 4:2:0 chroma and libjpeg's
# standard Huffman tables (Pillow's defaults, what a plain save() gives),
# pinned so that a Pillow with other defaults does not change the output.
# Of the standard settings they are the cheapest both to encode here and to
# decode in a DataLoader (optimize, progressive, 4:2:2 or 4:4:4 cost more on
# one side or both: bench/RESULTS.md, "The JPEG view's CPU per image").
JPEG_SAVE = {"RGB": {"quality": 75, "subsampling": "4:2:0"}, "L": {"quality": 75}}
torch.set_num_threads(1)  # the server already runs one request per thread


def output_format(etl_args):
    """FORMAT, or etl_args' {"format": F} (AIStore 5.0's transformer reads it)."""
    if not etl_args:
        return FORMAT
    try:
        fmt = json.loads(etl_args).get("format")
    except (json.JSONDecodeError, AttributeError):
        return FORMAT
    return fmt.strip().upper() if isinstance(fmt, str) and fmt.strip() else FORMAT


def npy(arr):
    """arr as a .npy file: numpy's header, then the C-order bytes."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, np.lib.format.header_data_from_array_1_0(arr))
    buf.write(arr.tobytes())
    return buf.getvalue()


def preprocess(data, etl_args=None):
    # On the PIL image: torchvision's Resize on PIL costs about half what the
    # same resize of a float tensor does, and it is what upstream computes.
    # No draft (reduced-scale) JPEG decoding: its pixels differ from what a
    # DataLoader transforming the file itself gets. An RGB or L image is used
    # as decoded, without a copy.
    img = Image.open(io.BytesIO(data))
    if img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    with torch.no_grad():
        out = PIPELINE(img)
    fmt = output_format(etl_args)
    if fmt == "NPY":
        return npy(out.numpy() if isinstance(out, torch.Tensor) else np.asarray(out))
    if isinstance(out, torch.Tensor):  # a pipeline that ends in ToTensor/Normalize
        out = TO_PIL(out)
    buf = io.BytesIO()
    out.save(buf, format=fmt, **(JPEG_SAVE.get(out.mode, {}) if fmt == "JPEG" else {}))
    return buf.getvalue()


if __name__ == "__main__":
    transformer_http.serve("torchvision_preprocess", preprocess, with_args=True)

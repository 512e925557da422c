#!/usr/bin/python3
"""torchvision_preprocess transformer: image -> torchvision.transforms.Compose
built from env TRANSFORM (JSON {"<TransformClass>": {kwargs}, ...}, applied
in order to the PIL image, as upstream's transformer and a DataLoader's
transforms do) -> saved as env FORMAT (default JPEG; etl_args {"format": F}
overrides it), as AIStore's transformer_torchvision image does. TRANSFORM unset means the seed
document's preprocessing: Resize(256) then CenterCrop(224)."""
import io
import json
import os
import sys

import torch
from PIL import Image
from torchvision import transforms

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "lib"))
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
    return transforms.Compose(steps)


PIPELINE = build_pipeline(transformer_http.env("TRANSFORM", DEFAULT_TRANSFORM))
FORMAT = transformer_http.env("FORMAT", "JPEG").strip().upper()
if FORMAT == "JPG":
    FORMAT = "JPEG"
TO_PIL = transforms.ToPILImage()
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


def preprocess(data, etl_args=None):
    # On the PIL image: torchvision's Resize on PIL costs about half what the
    # same resize of a float tensor does, and it is what upstream computes.
    with Image.open(io.BytesIO(data)) as img:
        img = img.convert("RGB") if img.mode not in ("RGB", "L") else img.copy()
    with torch.no_grad():
        out = PIPELINE(img)
    if isinstance(out, torch.Tensor):  # a pipeline that ends in ToTensor/Normalize
        out = TO_PIL(out)
    buf = io.BytesIO()
    out.save(buf, format=output_format(etl_args))
    return buf.getvalue()


if __name__ == "__main__":
    transformer_http.serve("torchvision_preprocess", preprocess, with_args=True)

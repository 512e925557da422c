#!/usr/bin/python3
"""image_resize transformer: decodes an image with PIL, resizes it to env SIZE
("WIDTHxHEIGHT", default 224x224) and encodes it as env FORMAT (JPEG, PNG, ...;
default: the input's own format). A local stand-in for the common "resize
before training" step that needs nothing beyond Debian's python3-pil."""
import io
import os
import sys

from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "lib"))
import transformer_http  # noqa: E402


def parse_size(raw):
    try:
        w, h = (int(v) for v in raw.lower().split("x"))
        if w <= 0 or h <= 0:
            raise ValueError
        return w, h
    except ValueError:
        sys.exit(f"image_resize: SIZE {raw!r} must be WIDTHxHEIGHT, e.g. 224x224")


SIZE = parse_size(transformer_http.env("SIZE", "224x224"))
FORMAT = transformer_http.env("FORMAT").strip().upper() or None


def resize(data):
    with Image.open(io.BytesIO(data)) as img:
        fmt = FORMAT or img.format or "PNG"
        out = img.resize(SIZE)
    if fmt in ("JPEG", "JPG") and out.mode not in ("RGB", "L"):
        out = out.convert("RGB")
    buf = io.BytesIO()
    out.save(buf, format="JPEG" if fmt == "JPG" else fmt)
    return buf.getvalue()


if __name__ == "__main__":
    transformer_http.serve("image_resize", resize)

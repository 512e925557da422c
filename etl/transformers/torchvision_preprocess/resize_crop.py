"""Resize then CenterCrop of a PIL image, resampling only the pixels the crop
keeps: byte for byte what torchvision's two steps give, for less CPU.

torchvision resizes the whole image (PIL's two passes: every needed source
row horizontally, then every output column vertically) and then throws
away the border the crop cuts. PIL's resize takes a box of the source
instead, but its edges are single floats (Resample.c's precompute_coeffs),
so a box only gives the same filter centres, weights and rows as the full
resize along an axis whose scale (source / resized length) is a binary
fraction that the box's edges hold exactly: the short side to Resize(256)
is always one (n/256). Such an axis is cropped by the box; any other axis
is resized whole and cropped after, as torchvision does. Resize(256) +
CenterCrop(224) thus resamples 224 of the short side's 256 pixels in both
passes (12.5 % less work; the long side's 341 -> 224 has no exact box).
Anything else (a crop larger than the image, NEAREST, another mode) takes
torchvision's own steps. tests/e2e/test_transformers.py compares the two
over many sizes.
"""
import struct
from fractions import Fraction

from PIL import Image
from torchvision import transforms
import torchvision.transforms.functional as F

# PIL's filters whose resize is the two-pass resampling of Resample.c
_RESAMPLED = {transforms.InterpolationMode.BILINEAR, transforms.InterpolationMode.BICUBIC,
              transforms.InterpolationMode.BOX, transforms.InterpolationMode.HAMMING,
              transforms.InterpolationMode.LANCZOS}


def _float32(v):
    """Whether the rational v is a single float exactly."""
    return Fraction(struct.unpack("f", struct.pack("f", float(v)))[0]) == v


def _axis_box(n_in, n_out, start, length):
    """The box edges (float) that resample output pixels [start, start +
    length) of a resize of n_in to n_out exactly as the whole resize does,
    or None: the scale must be a binary fraction (so every centre PIL
    computes, in0 + (i + 0.5) * scale, is the same double) and the edges and
    their difference single floats."""
    if n_in == n_out or n_in >= 1 << 20:
        return None
    scale = Fraction(n_in, n_out)
    d = scale.denominator
    if d & (d - 1) or d > 1 << 16:
        return None
    lo, hi = start * scale, (start + length) * scale
    if not (_float32(lo) and _float32(hi) and _float32(hi - lo)):
        return None
    return float(lo), float(hi)


class ResizeCenterCrop:
    """torchvision's Resize followed by its CenterCrop, on a PIL image."""

    def __init__(self, resize, crop):
        self.resize, self.crop = resize, crop
        self.pipeline = transforms.Compose([resize, crop])
        size = resize.size
        self.size = [size] if isinstance(size, int) else list(size)
        self.resample = F.pil_modes_mapping[resize.interpolation]

    def __call__(self, img):
        if not isinstance(img, Image.Image) or img.mode not in ("RGB", "L"):
            return self.pipeline(img)
        w, h = img.size
        nh, nw = F._compute_resized_output_size((h, w), self.size, None)
        ch, cw = self.crop.size
        if cw > nw or ch > nh:  # torchvision pads: its own steps
            return self.pipeline(img)
        top, left = int(round((nh - ch) / 2.0)), int(round((nw - cw) / 2.0))  # F.center_crop's
        bx, by = _axis_box(w, nw, left, cw), _axis_box(h, nh, top, ch)
        box, out, cut = [0, 0, w, h], [nw, nh], [left, top, left + cw, top + ch]
        if bx:
            box[0], box[2], out[0], cut[0], cut[2] = bx[0], bx[1], cw, 0, cw
        if by:
            box[1], box[3], out[1], cut[1], cut[3] = by[0], by[1], ch, 0, ch
        img = img.resize(tuple(out), self.resample, box=tuple(box))
        return img if out == [cw, ch] else img.crop(tuple(cut))


def fuse(steps):
    """steps with each Resize directly followed by a CenterCrop made one
    ResizeCenterCrop (where the Resize resamples with one of PIL's filters
    and has no max_size, whose checks stay torchvision's)."""
    if not (hasattr(F, "_compute_resized_output_size") and hasattr(F, "pil_modes_mapping")):
        return list(steps)  # another torchvision: its own steps
    out = []
    for step in steps:
        prev = out[-1] if out else None
        if (isinstance(step, transforms.CenterCrop) and type(prev) is transforms.Resize
                and prev.interpolation in _RESAMPLED and prev.max_size is None
                and (isinstance(prev.size, int) or len(prev.size) in (1, 2))):
            out[-1] = ResizeCenterCrop(prev, step)
        else:
            out.append(step)
    return out

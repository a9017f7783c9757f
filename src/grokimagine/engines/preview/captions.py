"""The preview engine's captions: the prompt in a band at the bottom of the frame, in a font
that has its glyphs, fitted to the width."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

TAG_TEXT = "PREVIEW"
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212", "-"))


def caption_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The band (left, top, right, bottom) that holds the caption, along the bottom edge."""
    band = max(16, round(min(width, height) * 0.075))
    return (0, height - band, width, height)


@lru_cache(maxsize=16)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError):  # Pillow without FreeType: the fixed-size bitmap font
        return ImageFont.load_default()


@lru_cache(maxsize=4096)
def _has_glyph(size: int, char: str) -> bool:
    font = _font(size)
    missing = font.getmask("\U0010fffd")  # a code point no font covers: the "tofu" box
    mask = font.getmask(char)
    return mask.size != missing.size or bytes(mask) != bytes(missing)


def caption_text(prompt: str, size: int) -> str:
    """The prompt made drawable: one line, accents folded, glyphs the font lacks as '?'."""
    folded = unicodedata.normalize("NFKD", " ".join(prompt.split())).translate(_DASHES)
    chars = (c for c in folded if not unicodedata.combining(c))
    return "".join(c if _has_glyph(size, c) else "?" for c in chars)


def fit_text(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float) -> str:
    """``text`` cut at a word (or letter) and ended with an ellipsis so it fits in ``width``."""
    if font.getlength(text) <= width:
        return text
    low, high = 0, len(text)  # longest prefix that fits together with the ellipsis
    while low < high:
        mid = (low + high + 1) // 2
        if font.getlength(text[:mid].rstrip() + "…") <= width:
            low = mid
        else:
            high = mid - 1
    cut = text[:low]
    if " " in cut and len(cut) - cut.rfind(" ") < 12:  # prefer a word boundary nearby
        cut = cut[: cut.rfind(" ")]
    cut = cut.rstrip(" ,;:-")
    return cut + "…" if cut else ""


def caption_layer(prompt: str, width: int, height: int) -> tuple[Image.Image, Image.Image]:
    """The caption band as an RGB image and its alpha mask, rendered once per video."""
    left, top, right, bottom = caption_box(width, height)
    band_w, band_h = right - left, bottom - top
    size = max(8, round(band_h * 0.5))
    font = _font(size)
    layer = Image.new("RGBA", (band_w, band_h), (0, 0, 0, 165))
    draw = ImageDraw.Draw(layer)
    pad = max(4, band_h // 4)
    tag_w = round(font.getlength(TAG_TEXT)) + 2 * pad
    tag_box = (band_w - pad - tag_w, pad // 2, band_w - pad, band_h - pad // 2)
    draw.rounded_rectangle(tag_box, radius=pad // 2, fill=(255, 196, 0, 255))
    middle = band_h / 2
    draw.text((tag_box[0] + pad, middle), TAG_TEXT, font=font, fill=(0, 0, 0, 255), anchor="lm")
    text = fit_text(caption_text(prompt, size), font, tag_box[0] - 3 * pad)
    draw.text((pad, middle), text, font=font, fill=(255, 255, 255, 255), anchor="lm")
    return layer.convert("RGB"), layer.getchannel("A")

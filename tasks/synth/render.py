"""Canonical report record -> raw report text in every layout seen in the wild, with seeded, meaning-preserving noise.

The renderer's entry points. The work is split along its seams: records.py draws random records, style.py a report's
look, narrative.py its prose as blocks, grids.py its tables as grids, layouts.py each layout's text. `random_record`
is re-exported here, as tests, benchmarks and the corpus have always imported it with `render`.
"""

from __future__ import annotations

import random
import zlib
from typing import Any

from tasks.synth.grids import VARIANTS
from tasks.synth.layouts import _META_CHARSET, _render_html, _render_pdf, _render_text
from tasks.synth.records import random_record
from tasks.synth.style import _Style

LAYOUTS = ("pipe", "cell_per_line", "whitespace_cell_per_line", "pdf_text", "html", "flattened")
ENCODINGS = ("utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16")
# Injected advertising that replaces the site name (seed 001: 赌博软件app). Every phrase carries 赌博/博彩/百家乐.
NOISE_SPAM = ("赌博软件app", "赌博软件app", "网上赌博平台", "博彩网站入口", "真人百家乐赌博app")


# --------------------------------------------------------------------------------------------------------------
# Public entry points.
# --------------------------------------------------------------------------------------------------------------


def _as_rng(rng: random.Random | int | None, record: dict[str, Any], layout: str) -> random.Random:
    if isinstance(rng, random.Random):
        return rng
    if rng is None:  # deterministic per record and layout (a digest of the fields that tell records apart)
        apps = record.get("applications") or {}
        key = (f"{layout}|{record.get('organ')}|{record.get('year')}|{record.get('published_date')}|"
               f"{apps.get('new_received')}|{apps.get('total')}|{record.get('review_litigation')}|"
               f"{list((record.get('active_disclosure') or {}).values())}")
        rng = zlib.crc32(key.encode())
    return random.Random(rng)


def render(record: dict[str, Any], layout: str, *, rng: random.Random | int | None = None, noise: bool = True,
           spam: bool = False, variants: frozenset[str] | set[str] = frozenset()) -> str:
    """The report text for `record` in `layout` (one of LAYOUTS). rng: a Random, a seed, or None (seeded from the
    record). noise adds breadcrumbs, footers, images, full-width digits, thousands separators, units, NBSP — never
    changing a value. spam replaces the site name with injected gambling text (a spam_injection case)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    r = _as_rng(rng, record, layout)
    spam_text = r.choice(NOISE_SPAM) if spam else None
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown variants {sorted(unknown)}; expected some of {VARIANTS}")
    st = _Style(r, layout, record["format_version"], noise, spam_text, frozenset(variants))
    if layout == "pdf_text":
        return _render_pdf(record, st)
    if layout == "html":
        return _render_html(record, st)
    return _render_text(record, st, layout)


def encode_text(text: str, encoding: str) -> bytes:
    """Encode rendered text; an HTML charset declaration follows the encoding, GBK gets plain spaces for NBSP."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown encoding {encoding!r}; expected one of {ENCODINGS}")
    if _META_CHARSET in text:
        label = "utf-8" if encoding == "utf-8-sig" else encoding
        text = text.replace(_META_CHARSET, f'<meta charset="{label}">', 1)
    if encoding == "gbk":
        text = text.replace("\xa0", " ")
    return text.encode(encoding)


def render_bytes(record: dict[str, Any], layout: str, *, rng: random.Random | int | None = None,
                 encoding: str = "utf-8", noise: bool = True, spam: bool = False,
                 variants: frozenset[str] | set[str] = frozenset()) -> bytes:
    """render() encoded as a published file would be: utf-8, utf-8-sig, gb18030, gbk or utf-16 (with BOM)."""
    return encode_text(render(record, layout, rng=rng, noise=noise, spam=spam, variants=variants), encoding)


__all__ = ["ENCODINGS", "LAYOUTS", "NOISE_SPAM", "VARIANTS", "encode_text", "random_record", "render", "render_bytes"]

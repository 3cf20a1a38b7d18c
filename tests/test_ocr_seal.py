"""A red seal over table 3 (tests/scans.py's seal variant on the real huaian page that holds it): lifted out before OCR
without taking the print under it, and every value cell under it read."""

from __future__ import annotations

import functools

import pytest

from tasks.parse import ocr
from tests import scans

needs_ocr = pytest.mark.skipif(not ocr.available(), reason="the ocr extra is not installed")


@functools.cache
def _pages():
    """(the huaian page holding table 3's start as scanned with the seal, the same page without it, the values'
    area): BGR arrays as OCR gets them from the image-only PDF."""
    pages, area = scans.huaian_pages(200)
    page = pages[area[0]]
    seal = next(v for v in scans.VARIANTS if v.seal)
    sealed = scans.scan([page], seal, (0, *area[1:]))[0]
    return (next(ocr.rasterise(scans.to_pdf([sealed], 200))), next(ocr.rasterise(scans.to_pdf([page], 200))),
            area[1:])


def test_lifting_the_seal_keeps_the_rules_under_it():
    """Every band of table 3's values crosses as many vertical rules with the seal lifted as without a seal. (Old
    lifting set coloured pixels to white: the grey edge of a rule under red ink is coloured, and bands under the
    seal crossed 8–10 rules of 11.)"""
    import cv2

    sealed, plain, (x0, y0, x1, y1) = _pages()
    g_plain = cv2.cvtColor(plain, cv2.COLOR_BGR2GRAY)
    g_lifted = cv2.cvtColor(ocr.without_colour(sealed), cv2.COLOR_BGR2GRAY)
    m_plain, _ = ocr.rule_masks(g_plain, 45)
    m_lifted, _ = ocr.rule_masks(g_lifted, 45)
    for y in range(y0 + 20, y1 - 30, 30):
        assert ocr._rules_across(m_lifted, y, y + 30) == pytest.approx(ocr._rules_across(m_plain, y, y + 30), abs=2), y
    # the seal itself goes: where the page is paper, almost nothing dark is left (its ring alone is ~4,700 px)
    paper = g_plain[y0:y1, x0:x1] >= 230
    assert ((g_lifted[y0:y1, x0:x1] < 160) & paper).sum() < 200


def test_without_colour_leaves_a_page_with_no_colour_as_it_is():
    _, plain, _ = _pages()
    assert ocr.without_colour(plain) is plain


@needs_ocr
def test_every_value_cell_under_the_seal_is_read():
    """The sealed page read by OCR: its rows of table 3 come out whole, each cell read as printed (before, the
    seal's remnants left rows short of cells, and a 0 with a speck beside it read as nothing)."""
    sealed, _, _ = _pages()
    lines, _, _ = ocr.read_page(sealed, 0, ocr.Timing())
    rows = [[c.text for c in line.cells] for line in lines if len(line.cells) == 7]
    expected = [[str(v) for v in row] for row in scans.expected("huaian_2024_pdf")["applications"].values()]
    assert len(rows) >= 12
    assert rows == expected[:len(rows)]

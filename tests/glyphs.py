"""Missing-glyph checks on a page in headless Chromium (tests/cdp.py): Chinese text must be drawn by a font that has
it, not as empty boxes. Two ways, for the two ways a dashboard draws text:

- DOM text (tables, titles, legends in HTML): CSS.getPlatformFontsForNode names the fonts that drew each element's
  own text and how many glyphs each drew; the glyphs drawn by fonts that cover Chinese (fontconfig's `:lang=zh`)
  must be at least the element's Chinese characters. A character no font has is drawn by the first font of the
  list (its .notdef box), which does not cover Chinese, so the count falls short.
- Canvas text (ECharts axes, labels, legends): each Chinese character the charts show is drawn on a probe canvas
  in the page's font and compared, pixel for pixel, with a code point no font has (U+10FFFD): identical means the
  same .notdef box.
"""

from __future__ import annotations

import json
import re
import subprocess
from functools import cache
from typing import Any

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

_MARK = r"""(() => {
  const re = /[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]/g;
  let n = 0;
  for (const el of document.querySelectorAll('body *')) {
    if (el.closest('script,style,noscript,svg') || !el.getClientRects().length) continue;
    const own = Array.from(el.childNodes).filter(c => c.nodeType === 3).map(c => c.textContent).join('');
    const m = own.match(re);
    if (m) { el.setAttribute('data-cjk', String(m.length)); n++; }
  }
  return n;
})()"""

_PROBE = r"""((chars, fonts) => {
  const c = document.createElement('canvas'); c.width = 48; c.height = 48;
  const x = c.getContext('2d', {willReadFrequently: true});
  const draw = (ch, font) => { x.clearRect(0, 0, 48, 48); x.font = font; x.fillStyle = '#000'; x.textBaseline = 'top';
    x.fillText(ch, 4, 4); return Array.from(x.getImageData(0, 0, 48, 48).data).join(','); };
  const bad = [];
  for (const font of fonts) {
    const box = draw('\u{10FFFD}', font), blank = draw(' ', font);
    for (const ch of chars) { const d = draw(ch, font); if (d === box || d === blank) bad.push(font + ': ' + ch); }
  }
  return bad;
})"""


@cache
def chinese_font_families() -> frozenset[str]:
    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False).stdout
    return frozenset(name.strip() for line in out.splitlines() for name in line.split(",") if name.strip())


async def dom_missing_glyphs(page: Any) -> list[str]:
    """Elements whose Chinese characters were not all drawn by a Chinese font: '<text>: fonts'."""
    if not await page.evaluate(_MARK):
        return []
    root = (await page.call("DOM.getDocument", depth=0))["root"]["nodeId"]
    ids = (await page.call("DOM.querySelectorAll", nodeId=root, selector="[data-cjk]"))["nodeIds"]
    zh = chinese_font_families()
    bad = []
    for node in ids:
        attrs = (await page.call("DOM.getAttributes", nodeId=node))["attributes"]
        want = int(dict(zip(attrs[0::2], attrs[1::2], strict=True))["data-cjk"])
        fonts = (await page.call("CSS.getPlatformFontsForNode", nodeId=node))["fonts"]
        drawn = sum(f["glyphCount"] for f in fonts if f["familyName"] in zh)
        if drawn < want:
            text = (await page.call("DOM.getOuterHTML", nodeId=node))["outerHTML"][:120]
            bad.append(f"{text}: {[(f['familyName'], f['glyphCount']) for f in fonts]}")
    return bad


async def canvas_missing_glyphs(page: Any, text: str, extra_fonts: tuple[str, ...] = ()) -> list[str]:
    """Chinese characters of `text` that the page's fonts draw as the box of a missing glyph (or not at all)."""
    chars = sorted(set(CJK.findall(text)))
    if not chars:
        return []
    body_font = await page.evaluate("getComputedStyle(document.body).fontFamily") or "sans-serif"
    fonts = [f"16px {body_font}", "16px sans-serif", *extra_fonts]
    return await page.evaluate(f"{_PROBE}({json.dumps(chars)}, {json.dumps(fonts)})")

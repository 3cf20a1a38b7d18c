"""The generated corpus (tasks/synth/corpus.py) as the demo and the benchmarks use it: the same seed gives the same
bytes, attachments included, and its scans are real scans of their records, which OCR reads to their values or to
nulls with findings, never to a wrong number."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tasks.storage import Store
from tasks.synth import corpus as corpus_mod
from tasks.synth.corpus import TRUTH_KEY, generate_corpus, read_truth

# More of every attachment than the real shares, so a small corpus holds several of each kind.
SHARES = {"pdf": 0.3, "docx": 0.3, "scan": 0.15}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_corpus(tmp_path, monkeypatch):
    """Two corpora from one seed, written seconds apart (zip and PDF dates have 2 s and 1 s resolution), hold the
    same files byte for byte: PDFs, Word files, scans, text reports, the truth file."""
    corpus_mod.require_synth_extra()
    monkeypatch.setattr(corpus_mod, "ATTACHMENT_SHARES", SHARES)
    generate_corpus(Store(str(tmp_path / "a")), 24, seed=3, attachments=True, workers=2)
    time.sleep(2.5)
    generate_corpus(Store(str(tmp_path / "b")), 24, seed=3, attachments=True, workers=2)
    a, b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert a.keys() == b.keys()
    kinds = {t["key"]: t for t in read_truth(Store(str(tmp_path / "a"))) if t["key"]}
    drawn = {(kinds[k]["encoding"] if kinds.get(k, {}).get("kind") in ("report", "scan") else None) for k in a}
    assert {"pdf", "docx", "scan"} <= drawn, drawn  # every attachment kind is in the comparison
    assert [k for k in a if a[k] != b[k]] == []
    assert TRUTH_KEY in a


@pytest.mark.slow
def test_generated_scans_land_with_values_or_findings_never_wrong(tmp_path, monkeypatch):
    """Each scan of a small corpus (its truth entry: the record it prints and its variant) parsed with OCR: the
    year, form and organ and every table-3 and table-4 value the record's or null, a null only with findings; at
    least 90% of the values read."""
    from tasks.parse import ocr
    from tasks.parse.documents import Document, parse_documents
    from tests.scans import score

    if not ocr.available():
        pytest.skip("the ocr extra is not installed")
    corpus_mod.require_synth_extra()
    monkeypatch.setattr(corpus_mod, "ATTACHMENT_SHARES", {"scan": 0.2})
    generate_corpus(Store(str(tmp_path)), 12, seed=17, attachments=True, duplicate_share=0.0, broken_share=0.0,
                    sidecar_share=0.0, workers=2)
    scans = [t for t in read_truth(Store(str(tmp_path))) if t["kind"] == "scan"]
    assert len(scans) >= 2 and len({t["variant"] for t in scans}) >= 2, scans
    for t in scans[:2]:
        rec = t["record"]
        got = parse_documents([Document(t["key"], (tmp_path / t["key"]).read_bytes())]).records[0]
        assert (got["reader"] or "").startswith("rapidocr-onnxruntime "), (t["variant"], got["findings"])
        for k in ("year", "format_version", "organ"):  # the record's, or null with a finding: never another value
            assert got[k] == rec[k] or (got[k] is None and got["findings"]), (t["variant"], k, got[k], rec[k])
        s = score(got, rec)
        assert s["wrong"] == 0, (t["variant"], s)
        assert s["read"] >= 0.9 * s["printed"], (t["variant"], s)
        if s["read"] < s["printed"]:
            assert got["findings"], (t["variant"], s)

"""The batch reader of clean tables (tasks/parse/batch_tables.py) against the per-document reader (tasks/cells + extract):
identical records on the renderer's output and on every file of the shared samples. Their steps on random input:
tests/test_parser_paths.py."""

from __future__ import annotations

import random

import pytest

import tasks.parse.documents as parse
from tasks.parse import batch_tables as bt
from tasks.parse.cells import classify, line_cells
from tasks.parse.documents import Document, parse_documents
from tasks.parse.extract import find_sections
from tasks.synth.render import ENCODINGS, LAYOUTS, random_record, render_bytes


def _docs(n: int, seed: int) -> list[Document]:
    rng = random.Random(seed)
    return [Document(f"d{i}", render_bytes(random_record(rng, blanks=i % 4 == 0, consistent=i % 6 != 0),
                                           LAYOUTS[i % len(LAYOUTS)], rng=i, encoding=ENCODINGS[i % len(ENCODINGS)]))
            for i in range(n)]


def _same_with_and_without_the_batch_reader(monkeypatch, docs: list[Document]) -> int:
    """Parse `docs` with the batch reader and without it (every table by the per-document path): identical records
    and frames. Returns how many tables the batch reader took."""
    used: list[int] = []
    real = parse.fast_tables

    def counting(prepared):
        out = real(prepared)
        used.append(sum(len(v) for v in out.values()))
        return out

    monkeypatch.setattr(parse, "fast_tables", counting)
    fast = parse_documents(docs)
    monkeypatch.setattr(parse, "fast_tables", lambda prepared: {})
    slow = parse_documents(docs)
    assert fast.records == slow.records
    for name, frame in fast.frames.items():
        assert frame.sort(frame.columns).equals(slow.frames[name].sort(frame.columns)), name
    return used[0]


def test_same_records_with_and_without_the_batch_reader(monkeypatch):
    taken = _same_with_and_without_the_batch_reader(monkeypatch, _docs(180, 3))
    assert taken > 300, "the batch reader should take most tables of a clean corpus"


def test_same_records_on_the_shared_samples(monkeypatch, samples_dir):
    """Every file of the shared samples (seeds, real reports, the PDF and the fragment; not the labels): the
    records the pipeline gives are the per-document path's."""
    files = sorted(p for p in samples_dir.rglob("*")
                   if p.is_file() and "expected" not in p.relative_to(samples_dir).parts and p.name != "README.md")
    assert len(files) >= 8, files
    taken = _same_with_and_without_the_batch_reader(monkeypatch, [Document(str(p), p.read_bytes()) for p in files])
    assert taken >= 10, "the batch reader should take the samples' clean tables"


TOKENS = ["0", "12", "007", "1,234", "1,234,567", "-5", "+3", "2.5", "12元", "3 件", "251000元", "10%", "—", "/", "无", "x",
          "若干", "N/A", "", "  ", "规章", "1.属于国家秘密", "12a", "1,23", "٣", "五"]


@pytest.mark.parametrize("token", TOKENS)
def test_cells_are_classified_as_the_per_document_reader_does(token):
    kind, value = bt.line_cells(f"标签 | {token} |")[1][:2]
    want = classify(token)
    assert ["text", "number", "blank", "null", "non_numeric"][kind] == want.kind
    if want.kind == "number":
        assert value == want.value and type(value) is type(want.value)


@pytest.mark.parametrize("region", [
    "规章 0 0 0\n行政规范性文件 1 2 3",
    "规章\n|\n0 |\n |\n5 |",
    "结果维持 | 结果纠正 | | | |\n1 | 2 |  | 4 |",
    "一、本年新收  5  6\n  7 —  若干",
    "标签 | 1 | 2 |\n|||||\n3 |",
    "(三)不予 公开\n1.属于 国家秘密 3 — 若干 x\n12元 1,234\n\n+3 2.5 10%",
])
def test_cell_sequence_matches_line_cells(region):
    got = bt.line_cells(region)
    want = line_cells(region)
    assert [["text", "number", "blank", "null", "non_numeric"][c[0]] for c in got] == [c.kind for c in want]
    assert [c[2] for c in got] == [c.pad for c in want]
    assert [c[1] for c in got if c[0]] == [c.value for c in want if c.kind != "text"]


def _regions(text: str) -> dict[int, list]:
    patterns, cells = bt.applications_spec("2021")
    return bt.read_row_tables([(0, text)], patterns, cells, integer=True)


def test_unclean_tables_are_left_to_the_per_document_reader():
    rec = random_record(random.Random(5), format_version="2021")
    rec["applications"]["new_received"] = [1, 0, 0, 0, 0, 0, 1]  # a 0 to break in every way below
    text = parse.normalise_batch([render_bytes(rec, "pipe", rng=5, noise=False).decode()])[0]
    start, end = find_sections(text)["applications"]
    region = text[start:end]
    assert _regions(region)[0][0] == rec["applications"]["new_received"]
    # a row short of cells, a non-numeric cell, a negative count, an absurd value: each is the slow path's to explain
    first_row = next(line for line in region.split("\n") if "本年新收" in line)
    for broken in (first_row.split("|")[0] + "| 1 | 0 |", first_row.replace("| 0 |", "| 若干 |", 1),
                   first_row.replace("| 0 |", "| -3 |", 1), first_row.replace("| 0 |", "| 2000000000 |", 1)):
        if broken == first_row:
            continue
        assert 0 not in _regions(region.replace(first_row, broken)), broken

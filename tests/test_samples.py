"""The shared samples are the contract: every hand-read value, null vs 0, metadata and required finding."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tasks.parse import Document, parse_documents
from tests.conftest import REPO, SAMPLES, sample_labels

LABELS = sample_labels()


@pytest.fixture(scope="module")
def parsed() -> dict[str, dict]:
    docs = [Document(source=str(path), data=path.read_bytes()) for _, _, path in LABELS]
    batch = parse_documents(docs)
    return {rec["source"]: rec for rec in batch.records}


@pytest.mark.parametrize(("name", "label", "path"), LABELS, ids=[n for n, _, _ in LABELS])
def test_sample_matches_hand_read_values(parsed, name, label, path):
    rec = parsed[str(path)]
    for table in ("active_disclosure", "applications", "review_litigation"):
        assert rec[table] == label[table], f"{name}: {table}"
    for key in ("year", "format_version", "admin_level", "published_date", "index_number", "province"):
        if label.get(key) is not None:
            assert rec[key] == label[key], f"{name}: {key}"
    if label.get("organ") is not None:
        assert label["organ"] in rec["organ"] or rec["organ"] in label["organ"]
    rules = {f["rule"] for f in rec["findings"]}
    assert set(label["must_flag"]) <= rules
    # nothing is flagged that the hand reading does not support: the samples' tables obey their rules
    assert not {r for r in rules if r.endswith("_mismatch")}, rules


def test_layouts_detected(parsed):
    for _name, label, path in LABELS:
        assert parsed[str(path)]["layout"] == label["layout"].replace("whitespace_cell_per_line", "whitespace_cell_per_line")


def test_truncated_fragment_reported_incomplete():
    path = SAMPLES / "real" / "huaian_2024_pdftext_fragment.txt"
    rec = parse_documents([Document(str(path), path.read_bytes())]).records[0]
    rules = {f["rule"] for f in rec["findings"]}
    assert "applications_incomplete" in rules
    apps = rec["applications"]
    # what the fragment printed is kept; what it cut off is not invented
    assert apps["new_received"] == [3001, 53, 0, 0, 61, 4, 3119]
    assert apps["unavailable_needs_creation"] == [None] * 7
    assert apps["total"] == [None] * 7
    assert rec["review_litigation"] is None


def test_cli_scored_like_the_judge():
    score = SAMPLES.parent / "tools" / "score_parse.py"
    exe = [sys.executable, "-m", "flows.cli", "parse", "--json"]
    proc = subprocess.run([sys.executable, str(score), "--labels", str(SAMPLES / "expected"), "--raw", str(SAMPLES), "--", *exe],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "values " in proc.stdout and "guesses 0" in proc.stdout


def test_cli_unreadable_file_still_gets_its_line(tmp_path):
    missing = tmp_path / "nope.txt"
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "parse", "--json", str(missing), str(empty)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert [x["source"] for x in lines] == [str(missing), str(empty)]
    assert lines[0]["findings"][0]["rule"] == "unreadable_file"
    assert lines[1]["findings"][0]["rule"] == "unsupported_format"

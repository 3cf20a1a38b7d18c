"""Shared fixtures: paths to the shared samples."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
os.environ.setdefault("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_required")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GOVREPORTS_SHARED", REPO.parent / "shared"))
SAMPLES = SHARED / "samples"


def sample_labels() -> list[tuple[str, dict, Path]]:
    out = []
    for p in sorted((SAMPLES / "expected").glob("*.json")):
        lab = json.loads(p.read_text(encoding="utf-8"))
        out.append((p.stem, lab, SAMPLES / lab["file"]))
    return out


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not SAMPLES.exists():
        pytest.fail(f"shared samples not found at {SAMPLES} (set GOVREPORTS_SHARED)")
    return SAMPLES

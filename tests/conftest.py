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


@pytest.fixture(scope="session")
def weed():
    """One SeaweedFS S3 server for the storage and lake tests (started on first use, stopped at the end)."""
    from tests.servers import seaweedfs_s3

    with seaweedfs_s3() as info:
        yield info


@pytest.fixture(params=["local", pytest.param("seaweedfs", marks=pytest.mark.slow)])
def store(request, tmp_path):
    """A Store on a fresh local folder, and the same on a fresh prefix of the SeaweedFS bucket."""
    import uuid

    from tasks.storage import Store
    from tests.servers import store_for

    if request.param == "local":
        return Store(tmp_path / "store")
    return store_for(request.getfixturevalue("weed"), f"store-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test server (temporary database) for the session's tests that run flows and tasks."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def analyst_lake(prefect_harness, tmp_path_factory):
    """A generated corpus (every value exact; see tests/analyst_lake.py) run through nightly + post_run, with its
    truth: shared by the BI, cross-year and data-quality tests."""
    from tests.analyst_lake import build

    root = tmp_path_factory.mktemp("analyst")
    return build(root / "source", root / "lake")


@pytest.fixture(scope="session")
def prefect_api(prefect_harness) -> str:
    """The session's Prefect test server's API URL: a flow run in a child process needs it in PREFECT_API_URL."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()

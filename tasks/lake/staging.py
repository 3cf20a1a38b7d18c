"""Staging: each parse batch writes its frames under _staging/<run_id>/<batch_id>/ with a _SUCCESS marker last, and
the commit reads them back (table by table, a few batches at a time). The commit's manifest
(_staging/<run_id>/_COMMIT.json) records its inputs before its first write, so a commit killed half way is replayed
by the next run (`pending_commits`)."""

from __future__ import annotations

import io
import json
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl

from schemas.tables import FAILURES, STATE, TABLES, Table, conform
from tasks.faults import fault_point
from tasks.lake.objects import (
    SUCCESS_MARKER,
    _check_id,
    _frame_bytes,
    _read_all,
    _read_bytes,
    _read_objects,
    get_table,
    grain,
)
from tasks.lake.partitions import by_partition
from tasks.storage import NotFound, StorageError, Store

STAGING_PREFIX = "_staging"
COMMIT_MANIFEST = "_COMMIT.json"
# Staged frames that are not tables: a batch's rows of the state and its failures, declared all the same.
STAGED_FRAMES: dict[str, Table] = {"_keys": STATE, "_failures": FAILURES}


def _staged_table(name: str) -> Table | None:
    """The declaration a staged frame is conformed to before it is written (None: stored as given)."""
    if name in TABLES or name == FAILURES.name:
        return get_table(name)
    return STAGED_FRAMES.get(name)


def _batch_prefix(run_id: str, batch_id: str) -> str:
    return f"{STAGING_PREFIX}/{_check_id(run_id, 'run_id')}/{_check_id(batch_id, 'batch_id')}/"


def stage_frames(store: Store, run_id: str, batch_id: str, frames: Mapping[str, pl.DataFrame]) -> list[str]:
    """Write a batch's frames to _staging/<run_id>/<batch_id>/<name>.parquet, then the _SUCCESS marker (a JSON
    manifest of names and row counts) last. Frames of the tables, "_keys" (state rows) and "_failures" are
    conformed first (`schemas.tables.conform`: a batch's own rows are unique on the grain); other names are stored
    as given. Re-staging a batch replaces it. Returns the keys written."""
    prefix = _batch_prefix(run_id, batch_id)
    marker = prefix + SUCCESS_MARKER
    store.delete([marker])  # an interrupted re-stage must not look complete
    written: list[str] = []
    counts: dict[str, int] = {}
    for name, frame in frames.items():
        _check_id(name, "frame name")
        table = _staged_table(name)
        if table is not None:
            frame = conform(frame, table)
        key = f"{prefix}{name}.parquet"
        store.put_bytes(key, _frame_bytes(frame))
        written.append(key)
        counts[name] = frame.height
        if len(written) == 1:
            fault_point("mid_batch")
    stale = [k for k in store.list_objects(prefix).get_column("key").to_list() if k not in written and k != marker]
    store.delete(stale)
    manifest = {"run_id": run_id, "batch_id": batch_id, "frames": counts,
                "written_at": datetime.now(UTC).isoformat()}
    store.put_bytes(marker, json.dumps(manifest, ensure_ascii=False).encode("utf-8"))
    return [*written, marker]


def staged_keys(store: Store, run_id: str, batches: Collection[str] | None = None) -> dict[str, list[str]]:
    """The staged objects of every complete batch of a run (those with _SUCCESS), or of the given batch ids only,
    by frame name, in batch order. Batches without the marker (a task killed mid-write) are ignored."""
    prefix = f"{STAGING_PREFIX}/{_check_id(run_id, 'run_id')}/"
    keys = store.list_objects(prefix).get_column("key").to_list()
    complete = {k[len(prefix):].split("/", 1)[0] for k in keys if k.endswith("/" + SUCCESS_MARKER)}
    if batches is not None:
        complete &= set(batches)
    batches = sorted(complete)
    markers = store.read_many([f"{prefix}{b}/{SUCCESS_MARKER}" for b in batches])
    by_name: dict[str, list[str]] = {}
    for b, (_key, data, _error) in zip(batches, markers, strict=True):
        if data is None:  # marker gone since listing (cleared): not complete any more
            continue
        for n in json.loads(data.decode("utf-8")).get("frames", {}):
            by_name.setdefault(n, []).append(f"{prefix}{b}/{n}.parquet")
    return by_name


def read_staged_frame(store: Store, name: str, keys: Sequence[str]) -> pl.DataFrame | None:
    """One frame name's staged parts, concatenated in batch order (None when no batch staged it)."""
    parts = [frame for _key, frame in _read_all(store, list(keys))]
    if not parts:
        return None
    if name in TABLES or name == FAILURES.name:
        return pl.concat([conform(p, get_table(name), check_grain=False) for p in parts], how="vertical")
    return pl.concat(parts, how="diagonal_relaxed")


def staged_ids_in_several_batches(store: Store, keys: Sequence[str]) -> pl.Series:
    """The report ids staged by more than one batch (the same bytes under keys that fell in different batches),
    from the staged `reports` parts `keys`: only the report_id column is read."""
    ids = [pl.read_parquet(io.BytesIO(data), columns=["report_id"]).get_column("report_id").unique()
           for _key, data in _read_objects(store, keys)]
    if not ids:
        return pl.Series("report_id", [], dtype=pl.String)
    every = pl.concat(ids)
    return every.filter(every.is_duplicated()).unique()


def read_staged_partitions(store: Store, name: str, keys: Sequence[str], *, in_several: pl.Series | None = None,
                           group: int = 16) -> dict[tuple[int, str], pl.DataFrame]:
    """One staged table, its rows unique on the grain (the first batch's row wins) and split by partition:
    {(year, admin_level): rows}. Read `group` batches at a time (one round of concurrent GETs) and split as read,
    so the whole run's table is never one frame beside its partitions (at 100k reports, table 3's 2.4 M rows were
    held three times over: the commit's peak RSS was ~1.85 GiB, now ~0.85 GiB).

    `in_several` (`staged_ids_in_several_batches`): the only report ids whose rows can repeat across batches (a
    batch's own rows are unique on the grain). Their rows are set aside and made unique together, in batch order."""
    t = get_table(name)
    by = grain(t)
    pieces: dict[tuple[int, str], list[pl.DataFrame]] = {}
    shared: list[pl.DataFrame] = []

    def split(frame: pl.DataFrame) -> None:
        for part, rows in by_partition(frame).items():
            pieces.setdefault(part, []).append(rows)

    several = in_several if in_several is not None and in_several.len() else None
    keys = list(keys)
    for i in range(0, len(keys), group):
        for _key, data in _read_objects(store, keys[i:i + group]):
            part = conform(_read_bytes(data), t, check_grain=False)  # checked when staged; batches may repeat rows
            if several is not None:
                mask = pl.col("report_id").is_in(several.implode())
                shared.append(part.filter(mask))
                part = part.filter(~mask)
            split(part.unique(subset=by, keep="first", maintain_order=True))
            del part
    if shared:
        split(pl.concat(shared, how="vertical").unique(subset=by, keep="first", maintain_order=True))
    return {p: pl.concat(fs, how="vertical", rechunk=False) for p, fs in pieces.items()}


def read_staged(store: Store, run_id: str, batches: Collection[str] | None = None) -> dict[str, pl.DataFrame]:
    """Every staged frame of a run's complete batches, by name (the commit reads them one name at a time instead,
    so only one table of the whole run is in memory at once)."""
    out: dict[str, pl.DataFrame] = {}
    for name, keys in staged_keys(store, run_id, batches).items():
        frame = read_staged_frame(store, name, keys)
        if frame is not None:
            out[name] = frame
    return out


def clear_staging(store: Store, run_id: str | None = None) -> int:
    """Delete a run's staging (or all staging); returns the number of objects deleted. A run's commit manifest goes
    first: a clear interrupted half-way leaves no manifest pointing at half the batches."""
    if run_id:
        store.delete([_commit_key(run_id)])
    prefix = f"{STAGING_PREFIX}/{_check_id(run_id, 'run_id')}/" if run_id else f"{STAGING_PREFIX}/"
    return store.delete_prefix(prefix)


# -- the commit manifest -----------------------------------------------------------------------------------------

def _commit_key(run_id: str) -> str:
    return f"{STAGING_PREFIX}/{_check_id(run_id, 'run_id')}/{COMMIT_MANIFEST}"


def write_commit_manifest(store: Store, run_id: str, manifest: Mapping[str, Any]) -> str:
    """Record a commit's inputs before its first write (JSON: run_id, the staged batches it takes, deleted keys,
    failed batches with their items and errors, the run's summary, recorded_at). A run that dies after this is
    finished by the next one from exactly these inputs (`pending_commits`)."""
    key = _commit_key(run_id)
    store.put_bytes(key, json.dumps(dict(manifest, run_id=run_id), ensure_ascii=False, default=str).encode("utf-8"))
    return key


def pending_commits(store: Store) -> list[dict[str, Any]]:
    """Manifests of commits that were started and never finished (their run died), oldest run first."""
    keys = [k for k in store.list_objects(f"{STAGING_PREFIX}/").get_column("key").to_list()
            if k.count("/") == 2 and k.endswith("/" + COMMIT_MANIFEST)]
    out: list[dict[str, Any]] = []
    for key, data, error in store.read_many(sorted(keys)):
        if data is None:
            if isinstance(error, NotFound):
                continue
            raise StorageError(f"cannot read {store.uri(key)}: {error}")
        manifest = json.loads(data.decode("utf-8"))
        _check_id(str(manifest.get("run_id", "")), "run_id")
        out.append(manifest)
    return out


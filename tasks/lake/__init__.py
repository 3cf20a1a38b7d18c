"""The Parquet lake: the only package that writes it. Partition rebuilds (`partitions`), staging and the commit
manifest (`staging`), state, runs and failures (`state`), the writer lease (`lease`); `objects` holds what they share
(keys checked, frames to Parquet bytes through `schemas.tables.conform`, concurrent reads). Every public name is
re-exported here: callers write ``from tasks import lake; lake.read_table(...)``.

Layout under the destination store (keys relative to it)::

    <table>/year=YYYY/admin_level=LEVEL/part-0.parquet   the five TABLES, one file per partition, keys not inside
    failures/<run_id>.parquet                           FAILURES, one object per run
    _state/processed.parquet                            what was processed (one object, rewritten whole)
    _state/lease.json                                   the writer lease
    _runs/run_id=<id>.parquet                           one row per run
    _staging/<run_id>/<batch_id>/<name>.parquet         batch output before the commit; _SUCCESS written last
    _staging/<run_id>/_COMMIT.json                      the commit's inputs, written before its first write
    _tmp/                                               local temporary files and lock files

State, staging and temporary files live outside the table folders: Polars and DuckDB globs would read them.

A partition is replaced by rebuilding it whole, deterministically (sorted), writing it as ONE object at the fixed
name part-0.parquet (local: temp file + os.replace; S3: one PUT — readers see the old file or the new one), and only
then deleting any other object in that folder. Rerunning a commit therefore gives the same lake, byte for byte.
Writers are serialised by the lease (`acquire_lease`): one run at a time rebuilds partitions.

A commit is re-playable: its inputs (the staged batches it takes, deleted keys, failed batches) are in
_staging/<run_id>/_COMMIT.json before it writes anything, and every step is idempotent, so a run killed mid-commit
is finished by the next run (`pending_commits`) from the same inputs, giving the lake the killed run would have.

Every frame is declared in schemas/tables.py (the five TABLES, CROSS_YEAR_FINDINGS, FAILURES, STATE, RUNS) and
passes `schemas.tables.conform` before it is written: declared columns in order, declared dtypes (a cast that would
change a value is refused), required values present, the declared grain unique.

Schema versions: every table file carries ``govreports_schema_version`` (schemas.tables.SCHEMA_VERSION) and
``table`` in its Parquet key-value metadata. Tables only grow: a new column is nullable and added at the end, never
renamed or retyped. Files of an older version keep working: `read_partition`/`read_table` add the missing columns as
nulls (and ignore columns this version does not know), `scan_table` gives Polars the declared schema with
``missing_columns="insert"``, DuckDB needs ``union_by_name = true``; a partition is rewritten at the current version
the next time a commit touches it (`partition_schema_versions` says which are older).
"""

from __future__ import annotations

from schemas.tables import FAILURES, RUNS, SCHEMA_VERSION, STATE, TABLES, Table, conform
from tasks.lake.lease import (
    LEASE_KEY,
    Lease,
    LeaseHeldError,
    LeaseLostError,
    acquire_lease,
    holder_is_dead,
)
from tasks.lake.objects import (
    PART_FILE,
    READ_LIMIT,
    SUCCESS_MARKER,
    TABLE_NAMES,
    _check_id,
    _frame_bytes,
    _read_all,
    _read_bytes,
    _table_bytes,
    empty_frame,
    get_table,
    grain,
)
from tasks.lake.partitions import (
    HIVE_SCHEMA,
    SCHEMA_VERSION_KEY,
    by_partition,
    file_schema_version,
    list_partitions,
    outdated_partitions,
    partition_key,
    partition_prefix,
    partition_schema_versions,
    read_partition,
    read_table,
    replace_partitions,
    replace_reports,
    scan_table,
    upgrade_frame,
    write_partition,
)
from tasks.lake.staging import (
    COMMIT_MANIFEST,
    STAGING_PREFIX,
    clear_staging,
    pending_commits,
    read_staged,
    read_staged_frame,
    read_staged_partitions,
    stage_frames,
    staged_ids_in_several_batches,
    staged_keys,
    write_commit_manifest,
)
from tasks.lake.state import (
    FAILURES_PREFIX,
    RUNS_PREFIX,
    STATE_KEY,
    STATE_SCHEMA,
    append_failures,
    append_run,
    clear_failures,
    read_failures,
    read_runs,
    read_state,
    write_state,
)

__all__ = [
    "COMMIT_MANIFEST", "FAILURES", "FAILURES_PREFIX", "HIVE_SCHEMA", "LEASE_KEY", "PART_FILE", "READ_LIMIT", "RUNS",
    "RUNS_PREFIX", "SCHEMA_VERSION", "SCHEMA_VERSION_KEY", "STAGING_PREFIX", "STATE", "STATE_KEY", "STATE_SCHEMA",
    "SUCCESS_MARKER", "TABLES", "TABLE_NAMES", "Lease", "LeaseHeldError", "LeaseLostError", "Table",
    "_check_id", "_frame_bytes", "_read_all", "_read_bytes", "_table_bytes",
    "acquire_lease", "append_failures", "append_run", "by_partition", "clear_failures", "clear_staging", "conform",
    "empty_frame", "file_schema_version", "get_table", "grain", "holder_is_dead", "list_partitions",
    "outdated_partitions", "partition_key", "partition_prefix", "partition_schema_versions", "pending_commits",
    "read_failures", "read_partition", "read_runs", "read_staged", "read_staged_frame", "read_staged_partitions",
    "read_state", "read_table", "replace_partitions", "replace_reports", "scan_table", "stage_frames",
    "staged_ids_in_several_batches", "staged_keys", "upgrade_frame", "write_commit_manifest", "write_partition",
    "write_state",
]

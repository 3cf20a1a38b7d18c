"""The flows' one settings object: `RunSettings` (where from, where to, how to run, and the batch tunables of
`PipelineSettings`), a flow parameter that a deployment, the CLI or a test passes whole; unset fields come from
GOVREPORTS_* environment variables."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class PipelineSettings(BaseSettings):
    """What a batch task needs to know (it gets these, not the run's): from the run's settings or GOVREPORTS_*."""

    model_config = SettingsConfigDict(env_prefix="GOVREPORTS_")
    # at most this many objects per batch task. Each task costs ~100-250 ms of Prefect bookkeeping, and the run
    # ends in smaller batches (make_batches), so the last one leaves the other workers idle briefly. A worker's
    # peak memory, measured here on generated reports parsed `parse_chunk` at a time: 3,000 objects ~440 MiB,
    # 6,000 ~560 MiB (parsed all at once: 3,000 ~570 MiB, 6,000 ~910 MiB).
    batch_files: int = 6000
    batch_bytes: int = 64 * 1024**2   # …and at most this many bytes
    parse_chunk: int = 1000           # a batch is parsed this many objects at a time (the parser's memory)
    read_workers: int = 32            # concurrent S3 reads inside a batch (a local folder is read in order)
    max_object_bytes: int = 50 * 1024**2  # larger objects are refused with a reason, never read into memory
    workers: int | None = None        # task-runner workers (default: cores)
    # the writer lease: renewed every ttl/6 while the run lives, so a run killed on another machine blocks the
    # next one for at most this long (a dead process on this machine is noticed at once)
    lease_ttl_seconds: int = 1800
    lease_wait_seconds: float = 0.0   # a second run waits this long for the lease, then refuses (0: refuse at once)
    # Each file's parse has a budget (tasks/parse/isolate.py): over it, the file is refused with the reason and the rest of
    # its batch goes on. Documents are parsed in a child process of each worker, which a file can stall or kill
    # without taking its batch along; isolate_parse=False parses in the worker itself, with no budget.
    file_time_budget_s: float = 30.0
    file_memory_budget_mb: int = 1024
    isolate_parse: bool = True
    # a batch task that raises is retried, then recorded in failures: the only place the retries are set (the flow
    # gives them to the batch task, flows/batches.py)
    batch_retries: int = 2
    batch_retry_delay_seconds: float = 2.0  # first retry after this, then 5× longer
    # Scans (PDFs of page images, no text layer) are not read in the parse batches: handed back with their real page
    # count, they are read by OCR (~2-4 s a page on one core) in batches of their own after them, at most this many
    # pages each (flows/plan.py ocr_batches)
    scan_batch_pages: int = 24
    # off (GOVREPORTS_OCR=off): scans are not read, each stays unsupported_format ("OCR switched off"); the first
    # run with OCR on reads them (their state says how they were read, flows/plan.py OCR_OFF_SUFFIX). A Word file's
    # pictured tables (tasks/parse/word_pictures.py) are read either way: its state could not tell them apart
    ocr: bool = True

    def batch_settings(self) -> dict[str, object]:
        """The tunables a batch task gets, as a dict (a task's parameters travel to its worker)."""
        return self.model_dump(include=set(PipelineSettings.model_fields))


class RunSettings(PipelineSettings):
    """A run's settings: the flows' one settings parameter (deploy/prefect.yaml passes it as `settings:`)."""

    source: str                       # raw reports: a folder or s3://bucket/prefix
    dest: str                         # the lake: a folder or s3://bucket/prefix
    # local = a process pool (parsing is CPU-bound); processes (the same); threads; dask (prefect-dask)
    runner: str = "local"
    dask_address: str | None = None   # tcp://scheduler:8786 of an existing Dask cluster (runner=dask)
    progress: bool = False            # a progress bar on stderr (the CLI turns it on for a terminal)

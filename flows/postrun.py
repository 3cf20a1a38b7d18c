"""After each nightly and backfill run: the cross-year step, then the data-quality report (HTML + Prefect artifact),
each a Prefect task; `post_run_steps` runs both without Prefect."""

from __future__ import annotations

import logging
from typing import Any

import polars as pl
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from tasks import lake
from tasks.report.bi import write_expected_publishers
from tasks.report.quality import write_quality_report
from tasks.rules.cross_year import run_cross_year
from tasks.storage import Store

ARTIFACT_KEY = "govreports-data-quality"
LEASE_TTL_SECONDS = 3600
Logger = logging.Logger | logging.LoggerAdapter


def cross_year_step(dest_url: str, run_id: str, *, logger: Logger | None = None) -> dict[str, Any]:
    """Cross-year findings, under the writer lease (they rewrite partitions; if another run holds it, the step is
    skipped and the next run recomputes it), and the coverage indicator's denominator."""
    log = logger or logging.getLogger(__name__)
    store = Store(dest_url)
    try:
        lease = lake.acquire_lease(store, owner=f"{run_id}-post-run", ttl_s=LEASE_TTL_SECONDS)
    except lake.LeaseHeldError as exc:
        log.warning("cross-year step skipped: %s", exc)
        return {"skipped": "another run holds the writer lease"}
    with lease:
        cross_year = run_cross_year(store)
        write_expected_publishers(store)  # the coverage indicator's denominator, from the division table
    log.info("cross-year: %d findings over %d report pairs", cross_year["findings"], cross_year["report_pairs"])
    return cross_year


def quality_report_step(dest_url: str, run_id: str, run_summary: dict[str, Any] | None, cross_year: dict[str, Any],
                        *, logger: Logger | None = None) -> dict[str, Any]:
    """The report written to _reports/<run_id>.html and _reports/latest.html. Returns a small summary with the
    report's Markdown."""
    log = logger or logging.getLogger(__name__)
    report = write_quality_report(Store(dest_url), run_id, run_summary, cross_year=cross_year)
    log.info("data-quality report: %s", report["html_uri"])
    return {"run_id": run_id, "cross_year": cross_year, "report_key": report["html_key"],
            "latest_key": report["latest_key"], "report_uri": Store.redact(report["html_uri"]),
            "markdown": report["markdown"]}


def post_run_steps(dest_url: str, run_id: str, run_summary: dict[str, Any] | None = None, *,
                   logger: Logger | None = None) -> dict[str, Any]:
    """The steps without Prefect: cross-year findings, then the data-quality report."""
    cross_year = cross_year_step(dest_url, run_id, logger=logger)
    return quality_report_step(dest_url, run_id, run_summary, cross_year, logger=logger)


@task(name="cross-year", cache_policy=NO_CACHE, task_run_name="cross-year-{run_id}")
def cross_year(dest_url: str, run_id: str) -> dict[str, Any]:
    """Cross-year findings over the whole lake (tasks/rules/cross_year.py)."""
    return cross_year_step(dest_url, run_id, logger=get_run_logger())


@task(name="quality-report", cache_policy=NO_CACHE, task_run_name="quality-report-{run_id}")
def quality_report(dest_url: str, run_id: str, run_summary: dict[str, Any] | None,
                   cross_year: dict[str, Any]) -> dict[str, Any]:
    """The data-quality report, and the Markdown artifact `govreports-data-quality`."""
    logger = get_run_logger()
    result = quality_report_step(dest_url, run_id, run_summary, cross_year, logger=logger)
    markdown = result.pop("markdown")
    try:
        artifact_id = create_markdown_artifact(markdown, key=ARTIFACT_KEY,
                                               description=f"data quality after run {run_id}")
        result["artifact_id"] = str(artifact_id)
    except Exception as exc:  # an artifact must never fail the run
        logger.warning("could not create the data-quality artifact: %s", exc)
        result["artifact_id"] = None
    return result


def post_run(dest_url: str, run_id: str, run_summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """Both tasks in order, as a flow runs them: cross-year findings, then the data-quality report."""
    return quality_report(dest_url, run_id, run_summary, cross_year(dest_url, run_id))


def report_due(dest: str, run_id: str, changed: bool) -> str | None:
    """The run whose post-run steps are due: this one if it changed the lake; else the last run that did, if its
    steps never finished (it was killed after its commit); else none (an idle run changed nothing: the last report
    stands)."""
    if changed:
        return run_id
    try:
        runs = lake.read_runs(Store(dest))
        if runs.is_empty() or "parsed" not in runs.columns:
            return None
        changed_runs = runs.filter((pl.col("parsed") > 0) | (pl.col("deleted") > 0) | (pl.col("failed") > 0))
        if changed_runs.is_empty():
            return None
        last = changed_runs.get_column("run_id").to_list()[-1]
        return None if Store(dest).exists(f"_reports/{last}.html") else last
    except Exception as exc:  # only a check: never a reason to fail an idle run
        get_run_logger().warning("could not check for unfinished post-run steps: %s", exc)
        return None

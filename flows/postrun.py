"""After each nightly and backfill run: the cross-year step, then the data-quality report (HTML + Prefect artifact)."""

from __future__ import annotations

import logging
from typing import Any

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


def post_run_steps(dest_url: str, run_id: str, run_summary: dict[str, Any] | None = None, *,
                   logger: logging.Logger | logging.LoggerAdapter | None = None) -> dict[str, Any]:
    """The steps without Prefect: cross-year findings (under the writer lease: they rewrite partitions; if another
    run holds it, the step is skipped and the next run recomputes it), then the report written to
    _reports/<run_id>.html and _reports/latest.html. Returns a small summary with the report's Markdown."""
    log = logger or logging.getLogger(__name__)
    store = Store(dest_url)
    try:
        lease = lake.acquire_lease(store, owner=f"{run_id}-post-run", ttl_s=LEASE_TTL_SECONDS)
    except lake.LeaseHeldError as exc:
        log.warning("cross-year step skipped: %s", exc)
        cross_year: dict[str, Any] = {"skipped": "another run holds the writer lease"}
    else:
        with lease:
            cross_year = run_cross_year(store)
            write_expected_publishers(store)  # the coverage indicator's denominator, from the division table
        log.info("cross-year: %d findings over %d report pairs", cross_year["findings"], cross_year["report_pairs"])
    report = write_quality_report(store, run_id, run_summary, cross_year=cross_year)
    log.info("data-quality report: %s", report["html_uri"])
    return {"run_id": run_id, "cross_year": cross_year, "report_key": report["html_key"],
            "latest_key": report["latest_key"], "report_uri": Store.redact(report["html_uri"]),
            "markdown": report["markdown"]}


@task(cache_policy=NO_CACHE, task_run_name="post-run-{run_id}")
def post_run(dest_url: str, run_id: str, run_summary: dict[str, Any] | None = None) -> dict[str, Any]:
    """Cross-year findings, the data-quality report, and the Markdown artifact `govreports-data-quality`."""
    logger = get_run_logger()
    result = post_run_steps(dest_url, run_id, run_summary, logger=logger)
    markdown = result.pop("markdown")
    try:
        artifact_id = create_markdown_artifact(markdown, key=ARTIFACT_KEY,
                                               description=f"data quality after run {run_id}")
        result["artifact_id"] = str(artifact_id)
    except Exception as exc:  # an artifact must never fail the run
        logger.warning("could not create the data-quality artifact: %s", exc)
        result["artifact_id"] = None
    return result

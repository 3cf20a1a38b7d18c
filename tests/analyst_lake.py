"""The analyst's test lake: a generated corpus whose every value is exact, run through nightly + post_run, and the
answers computed independently from its truth file (plain Python over the records, not the code under test).

The corpus is tasks.synth.corpus.generate_corpus without the flattened layout (its fused digits may be ambiguous by
design: null + ambiguous_value), without spam, plus a few reports that break the form's rules and a few organs
whose consecutive years agree (carried_over = last year's carried_forward, in-force stock continuous), so that
both "mismatch" and "match" occur across years with non-zero values.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flows import pipeline
from tasks.storage import Store
from tasks.synth.corpus import TRUTH_KEY, generate_corpus, read_truth
from tasks.synth.render import random_record, render_bytes

N_REPORTS = 300
SEED = 23
EXACT_LAYOUTS = ("pipe", "cell_per_line", "whitespace_cell_per_line", "pdf_text", "html")
EXTENSIONS = {"html": ".html"}
N_INCONSISTENT = 8
N_CHAINS = 6
APPLICANTS = ("natural_person", "commercial", "research", "nonprofit", "legal_service", "other", "total")
FIXED_ROWS = ("new_received", "carried_over", "total", "carried_forward")
REVIEW_GROUPS = ("review", "suit_direct", "suit_after_review")
OUTCOME_PREFIXES = ("denied", "unavailable", "not_processed", "other")
STOCK_ITEMS = ("regulations", "normative_documents")


@dataclass
class AnalystLake:
    source: Path
    dest: Path
    truth: list[dict[str, Any]]
    run: dict[str, Any]
    post: dict[str, Any]


def nightly_with_post_run(source: str, dest: str) -> dict[str, Any]:
    """The nightly flow, whose post-run steps (cross-year, the data-quality report) are its last tasks."""
    result = pipeline.nightly(pipeline.RunSettings(source=source, dest=dest, runner="threads"))
    return {"run": result, "post": result["post_run"]}


# -- the corpus --------------------------------------------------------------------------------------------------

def build_corpus(src: Path) -> list[dict[str, Any]]:
    store = Store(str(src))
    generate_corpus(store, N_REPORTS, seed=SEED, spam_share=0.0, broken_share=0.01, duplicate_share=0.02)
    truth = read_truth(store)
    drop = {t["key"] for t in truth if t.get("layout") == "flattened"}
    drop |= {t["key"] for t in truth if t["kind"] == "duplicate" and t["duplicate_of"] in drop}
    store.delete(sorted(drop | {k + ".meta.json" for k in drop}))
    truth = [t for t in truth if t["key"] not in drop]
    truth += _extra_reports(store, truth, random.Random(SEED))
    store.put_bytes(TRUTH_KEY, "\n".join(json.dumps(t, ensure_ascii=False) for t in truth).encode() + b"\n")
    return truth


def _entry(store: Store, key: str, rec: dict[str, Any], division: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    layout = rng.choice(EXACT_LAYOUTS)
    key += EXTENSIONS.get(layout, ".txt")
    store.put_bytes(key, render_bytes(rec, layout, rng=rng.getrandbits(32), encoding="utf-8"))
    return {"key": key, "kind": "report", "layout": layout, "encoding": "utf-8", "record": rec, "division": division}


def _extra_reports(store: Store, truth: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    reports = [t for t in truth if t["kind"] == "report"]
    out = []
    for i in range(N_INCONSISTENT):
        base = reports[rng.randrange(len(reports))]
        b = base["record"]
        rec = random_record(rng, year=rng.randint(2019, 2025), organ=b["organ"], admin_level=b["admin_level"],
                            province=b["province"], consistent=False)
        out.append(_entry(store, f"reports/extra/inconsistent-{i:03d}", rec, base["division"], rng))
    taken = {(t["record"]["organ"], t["record"]["year"]) for t in reports}
    candidates = [t for t in reports if 2021 <= t["record"]["year"] <= 2024
                  and (t["record"]["organ"], t["record"]["year"] + 1) not in taken]
    for i, prev in enumerate(rng.sample(candidates, N_CHAINS)):
        p = prev["record"]
        rec = random_record(rng, year=p["year"] + 1, organ=p["organ"], admin_level=p["admin_level"], province=p["province"])
        _continue_from(rec, p)
        out.append(_entry(store, f"reports/extra/continued-{i:03d}", rec, prev["division"], rng))
    return out


def _continue_from(rec: dict[str, Any], prev: dict[str, Any]) -> None:
    """Make `rec` (year t) agree with `prev` (t−1) across years while keeping its own rules exact."""
    apps = rec["applications"]
    for c in range(6):
        wanted = prev["applications"]["carried_forward"][c]
        new = apps["new_received"][c] + apps["carried_over"][c] - wanted
        if new < 0:  # more came over than this year's 一+二 allows: the excess is carried forward again
            apps["carried_forward"][c] += -new
            new = 0
        apps["new_received"][c], apps["carried_over"][c] = new, wanted
    for key in ("new_received", "carried_over", "carried_forward"):
        apps[key][6] = sum(apps[key][:6])
    for item in STOCK_ITEMS:
        stock = rec["active_disclosure"][item]
        stock["in_force"] = prev["active_disclosure"][item]["in_force"] + stock["issued"] - stock["repealed"]
        if stock["in_force"] < 0:
            stock["repealed"] = 0
            stock["in_force"] = prev["active_disclosure"][item]["in_force"] + stock["issued"]


def build(src: Path, dest: Path) -> AnalystLake:
    truth = build_corpus(src)
    result = nightly_with_post_run(source=str(src), dest=str(dest))
    return AnalystLake(src, dest, truth, result["run"], result["post"])


# -- answers from the truth file ---------------------------------------------------------------------------------

def reports_of(truth: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in truth if t["kind"] == "report"]


def category(row_key: str) -> tuple[str, str | None]:
    for prefix in OUTCOME_PREFIXES:
        if row_key.startswith(prefix + "_"):
            return prefix, row_key[len(prefix) + 1:]
    return row_key, None


def outcome_rows(rec: dict[str, Any]) -> list[str]:
    return [k for k in rec["applications"] if k not in FIXED_ROWS]


def requests_by_year_level(truth: list[dict[str, Any]]) -> dict[tuple[int, str], tuple[int, ...]]:
    """(year, level) → (reports, new, carried_over, handled, carried_forward), column 总计."""
    acc: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0] * 5)
    for t in reports_of(truth):
        rec = t["record"]
        a = acc[(rec["year"], rec["admin_level"])]
        a[0] += 1
        for i, key in enumerate(("new_received", "carried_over", "total", "carried_forward"), 1):
            a[i] += rec["applications"][key][6]
    return {k: tuple(v) for k, v in acc.items()}


def outcomes(truth: list[dict[str, Any]]) -> dict[tuple[int, str, str | None], int]:
    """(year, category, reason) → requests (column 总计 of the outcome rows)."""
    acc: Counter[tuple[int, str, str | None]] = Counter()
    for t in reports_of(truth):
        rec = t["record"]
        for key in outcome_rows(rec):
            acc[(rec["year"], *category(key))] += rec["applications"][key][6]
    return dict(acc)


def review_outcomes(truth: list[dict[str, Any]]) -> dict[tuple[int, str], tuple[int, ...]]:
    """(year, group) → (reports, upheld, corrected, other, pending, total)."""
    acc: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0] * 6)
    for t in reports_of(truth):
        rec = t["record"]
        values = rec["review_litigation"]
        for g, group in enumerate(REVIEW_GROUPS):
            a = acc[(rec["year"], group)]
            a[0] += 1
            for i in range(5):
                a[i + 1] += values[5 * g + i]
    return {k: tuple(v) for k, v in acc.items()}


def rule_findings(rec: dict[str, Any]) -> Counter[str]:
    """The within-report rules a record breaks, with how many findings each gives (one per row, column or group)."""
    apps, found = rec["applications"], Counter()
    for values in apps.values():
        if sum(values[:6]) != values[6]:
            found["applications_row_total_mismatch"] += 1
    details = outcome_rows(rec)
    for c in range(7):
        if apps["new_received"][c] + apps["carried_over"][c] != apps["total"][c] + apps["carried_forward"][c]:
            found["applications_column_identity_mismatch"] += 1
        if apps["total"][c] != sum(apps[k][c] for k in details):
            found["applications_detail_sum_mismatch"] += 1
    rl = rec["review_litigation"]
    for g in range(3):
        if sum(rl[5 * g:5 * g + 4]) != rl[5 * g + 4]:
            found["review_litigation_total_mismatch"] += 1
    return found


def broken_reports(truth: list[dict[str, Any]], src: Path) -> list[str]:
    """Broken files are one (unsupported) report per distinct content; its source is the first key."""
    by_hash: dict[str, list[str]] = defaultdict(list)
    for t in truth:
        if t["kind"] == "broken":
            by_hash[hashlib.sha256((src / t["key"]).read_bytes()).hexdigest()].append(t["key"])
    return sorted(min(keys) for keys in by_hash.values())


def failing_reports(truth: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """source → rules broken (with finding counts), for the reports (not the broken files) that break any."""
    out = {}
    for t in reports_of(truth):
        found = rule_findings(t["record"])
        if found:
            out[t["key"]] = found
    return out


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def cross_year(truth: list[dict[str, Any]]) -> set[tuple[str, str, str, str, str]]:
    """(source, rule, field, expected, actual) of every cross-year finding, from the records."""
    by_organ_year: dict[tuple[str, str, int], list[dict[str, Any]]] = defaultdict(list)
    for t in reports_of(truth):
        rec = t["record"]
        by_organ_year[(t["division"]["division_code"] or "", rec["organ"], rec["year"])].append(t)
    out = set()
    for (code, organ, year), entries in by_organ_year.items():
        prevs = [p["record"] for p in by_organ_year.get((code, organ, year - 1), [])]
        for t in entries:
            rec = t["record"]
            for c in range(7):
                value = rec["applications"]["carried_over"][c]
                before = sorted({p["applications"]["carried_forward"][c] for p in prevs})
                if before and value not in before:
                    out.add((t["key"], "carried_over_mismatch", f"applications.carried_over[{c}]",
                             " or ".join(map(_number, before)), _number(value)))
            if rec["format_version"] != "2021":
                continue
            for item in STOCK_ITEMS:
                stock = rec["active_disclosure"][item]
                implied = sorted({p["active_disclosure"][item]["in_force"] + stock["issued"] - stock["repealed"]
                                  for p in prevs if p["format_version"] == "2021"})
                if implied and stock["in_force"] not in implied:
                    out.add((t["key"], "active_disclosure_in_force_mismatch", f"active_disclosure.{item}.in_force",
                             " or ".join(map(_number, implied)), _number(stock["in_force"])))
    return out

"""Random canonical records: plausible report values for each admin level and both formats (2019, 2021), with every
sum rule holding (or broken on request, as real reports break them) and cells left blank as reports leave them.
A record's organ, when the caller names none, is drawn from the division table by the parser's own generator
(tasks/parse/divisions.py `sample_divisions`), so the place is real and resolves back to itself."""

from __future__ import annotations

import itertools
import math
import random
from functools import lru_cache
from typing import Any

from schemas.form import APPLICATION_ROWS, FORMAT_VERSIONS
from tasks.parse.divisions import resolve_organ, sample_divisions

# --------------------------------------------------------------------------------------------------------------
# Organs.
# --------------------------------------------------------------------------------------------------------------


def _infer_kind(organ: str | None) -> str:
    """A named organ's kind, which scales its numbers (a government handles more requests than a department)."""
    if not organ:
        return "other"
    if "开发区" in organ or "高新区" in organ or "新区" in organ:
        return "zone"
    if organ.endswith(("人民政府", "街道办事处", "公署")):
        return "government"
    return "department"


# Admin levels of the records that name no organ (the corpus names its own, from sample_divisions): counties and
# townships dominate, as in crawls; "unknown" is the report that never names its organ (seed 000: only 我局).
_LEVEL_WEIGHTS = (("central", 2), ("provincial", 6), ("prefectural", 20), ("county", 42), ("township", 27),
                  ("unknown", 3))


def _random_organ(rng: random.Random, organ: str | None, level: str | None, province: str | None
                  ) -> tuple[str | None, str, str | None, str]:
    """(organ, admin_level, province, organ_kind). A given organ keeps its level (else the parser's reading of it);
    else one is drawn at the level asked for (else at _LEVEL_WEIGHTS), in the province asked for."""
    if organ is not None:
        return organ, level or resolve_organ(organ).admin_level, province, _infer_kind(organ)
    if level is None:
        level = rng.choices([lv for lv, _ in _LEVEL_WEIGHTS], [w for _, w in _LEVEL_WEIGHTS])[0]
    if level == "unknown":  # seed 000: only "我局"
        return None, level, province, "department"
    organ, level, div = sample_divisions(rng, 1, level=level, province=province)[0]
    return organ, level, div.province, div.organ_kind or "department"


# --------------------------------------------------------------------------------------------------------------
# Random records.
# --------------------------------------------------------------------------------------------------------------

# Share of requests by applicant column (natural persons dominate everywhere).
_APPLICANT_WEIGHTS = (0.86, 0.07, 0.004, 0.01, 0.03, 0.026)
# Share of handled requests by outcome row; 2019's single `other` row takes the three 2021 other_* shares.
_OUTCOME_WEIGHTS = {
    "granted": 0.40, "partially_granted": 0.11,
    "denied_state_secret": 0.002, "denied_prohibited_by_law": 0.008, "denied_three_security_one_stability": 0.003,
    "denied_third_party_rights": 0.005, "denied_internal_affairs": 0.005, "denied_process_information": 0.008,
    "denied_law_enforcement_file": 0.004, "denied_administrative_query": 0.02,
    "unavailable_not_held": 0.22, "unavailable_needs_creation": 0.02, "unavailable_unclear_after_correction": 0.01,
    "not_processed_petition": 0.03, "not_processed_duplicate": 0.015, "not_processed_publication": 0.002,
    "not_processed_excessive": 0.004, "not_processed_confirmation": 0.004,
    "other_no_correction": 0.03, "other_unpaid_fee": 0.004, "other_misc": 0.04, "other": 0.074,
}
_REVIEW_WEIGHTS = (0.40, 0.12, 0.35, 0.13)


def _log_uniform(rng: random.Random, lo: float, hi: float) -> int:
    a = math.log(lo)
    return int(math.exp(a + (math.log(hi + 1) - a) * rng.random()))


def _count(rng: random.Random, p_zero: float, lo: float, hi: float) -> int:
    return 0 if rng.random() < p_zero else _log_uniform(rng, lo, hi)


@lru_cache(maxsize=64)
def _weights_plan(weights: tuple[float, ...]) -> tuple[list[float], tuple[tuple[int, float, bool], ...]]:
    """Cumulative weights (small n) and (bin, share, is_minor) for bins 1.. (large n)."""
    total = sum(weights)
    return (list(itertools.accumulate(weights)),
            tuple((i, w / total, w / total < 0.02) for i, w in enumerate(weights) if i))


def _split(rng: random.Random, n: int, weights: tuple[float, ...]) -> list[int]:
    """n items spread over len(weights) bins roughly by weight (index 0 takes the remainder)."""
    k = len(weights)
    out = [0] * k
    if n <= 0:
        return out
    cum, shares = _weights_plan(weights)
    if n <= 16:
        for i in rng.choices(range(k), cum_weights=cum, k=n):
            out[i] += 1
        return out
    r = rng.random
    rem = n
    for i, share, minor in shares:
        if minor and r() < 0.5:
            continue
        x = int(n * share * (0.2 + 1.6 * r()))
        if x > rem:
            x = rem
        out[i] = x
        rem -= x
    out[0] += rem
    return out


def _money(rng: random.Random, p_zero: float, lo: float, hi: float) -> int | float:
    if rng.random() < p_zero:
        return 0
    v = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    digits = rng.choice((0, 0, 1, 2, 2, 4))
    v = round(v, digits)
    return int(v) if digits == 0 or float(v).is_integer() else v


def _active_disclosure(rng: random.Random, version: str, level: str, kind: str) -> dict[str, dict[str, Any]]:
    big = level in ("central", "provincial", "prefectural") or (level == "county" and kind == "government")
    makes_rules = level == "central" or (kind == "government" and level in ("provincial", "prefectural"))
    small = level in ("township", "unknown") or kind == "department"
    doc_hi = 4 if level == "township" else 40
    act_hi = 2000 if small else (500_000 if big else 20_000)
    if version == "2021":
        issued = _count(rng, 0.5, 1, doc_hi)
        return {
            "regulations": ({"issued": _count(rng, 0.4, 1, 4), "repealed": _count(rng, 0.6, 1, 3),
                             "in_force": _count(rng, 0.05, 3, 150)} if makes_rules
                            else {"issued": 0, "repealed": 0, "in_force": 0}),
            "normative_documents": {"issued": issued, "repealed": _count(rng, 0.6, 1, doc_hi),
                                    "in_force": issued + _count(rng, 0.3, 1, doc_hi * 8)},
            "licensing": {"decisions": _count(rng, 0.45, 1, act_hi)},
            "penalty": {"decisions": _count(rng, 0.45, 1, act_hi * 4)},
            "enforcement": {"decisions": _count(rng, 0.6, 1, act_hi // 4 + 1)},
            "administrative_fees": {"amount_10k_yuan": _money(rng, 0.55, 0.05, 200_000 if big else 2_000)},
        }
    out: dict[str, dict[str, Any]] = {}
    for key in ("regulations", "normative_documents"):
        hi = 4 if key == "regulations" else doc_hi
        made = _count(rng, 0.2 if key == "normative_documents" or makes_rules else 1.0, 1, hi)
        published = made - (rng.randint(0, made) if made and rng.random() < 0.2 else 0)
        out[key] = {"new_made": made, "new_published": published,
                    "total_published": published + _count(rng, 0.3, 1, hi * 10)}
    for key, hi in (("licensing", act_hi), ("other_services", act_hi // 10 + 1), ("penalty", act_hi * 4),
                    ("enforcement", act_hi // 4 + 1)):
        prev = _count(rng, 0.4, 1, 300 if big else 40)
        change = rng.randint(-prev, max(3, prev // 3)) if rng.random() < 0.5 else 0
        out[key] = {"previous_count": prev, "change": change, "decisions": _count(rng, 0.45, 1, hi)}
    prev = _count(rng, 0.5, 1, 60 if big else 8)
    out["administrative_fees"] = {"previous_count": prev,
                                  "change": rng.randint(-prev, 3) if rng.random() < 0.3 else 0}
    projects = _count(rng, 0.5, 1, 300 if big else 20)
    if projects == 0:
        amount: int | float = 0
    elif rng.random() < 0.5:  # yuan, printed as an integer (seed: 251000元)
        amount = _log_uniform(rng, 5_000, 50_000_000)
    else:  # ten-thousand yuan, decimal
        amount = _money(rng, 0.0, 0.5, 5_000)
    out["government_procurement"] = {"projects": projects, "amount": amount}
    return out


def _applications(rng: random.Random, version: str, level: str, kind: str) -> tuple[dict[str, list], list[int]]:
    if level == "township":
        n = _count(rng, 0.72, 1, 6)
    elif level == "central":
        n = _count(rng, 0.05, 10, 3000)
    elif level == "provincial":
        n = _count(rng, 0.03, 50 if kind == "government" else 5, 5000 if kind == "government" else 800)
    elif level == "prefectural":
        n = _count(rng, 0.03, 20, 4000) if kind == "government" else _count(rng, 0.35, 1, 150)
    elif level == "county":
        n = _count(rng, 0.2, 1, 300) if kind != "department" else _count(rng, 0.55, 1, 30)
    else:
        n = _count(rng, 0.55, 1, 30)
    row_keys, outcome_keys, weights = _outcome_plan(version)
    carried_over_n = 0 if rng.random() < 0.55 or n == 0 else int(n * rng.uniform(0.0, 0.1)) + rng.randint(0, 2)
    if n == 0 and carried_over_n == 0:  # most small organs: nothing received, nothing handled
        out = {k: [0] * 7 for k in row_keys}
    else:
        out = _request_table(rng, n, carried_over_n, row_keys, outcome_keys, weights)
    # Table 4 scales with requests: a few reviews for active organs, none for most small ones.
    review: list[int] = []
    for g in range(3):
        base = n * (0.08, 0.012, 0.008)[g]
        m = 0 if base < 1 and rng.random() > base else _log_uniform(rng, 1, max(1.0, base * 1.5))
        parts = _split(rng, m, _REVIEW_WEIGHTS)
        review += [*parts, sum(parts)]
    return out, review


@lru_cache(maxsize=4)
def _outcome_plan(version: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[float, ...]]:
    rows = APPLICATION_ROWS[version]
    outcome_keys = tuple(r.key for r in rows if r.group == "outcome")
    return tuple(r.key for r in rows), outcome_keys, tuple(_OUTCOME_WEIGHTS[k] for k in outcome_keys)


def _request_table(rng: random.Random, n: int, carried_over_n: int, row_keys: tuple[str, ...],
                   outcome_keys: tuple[str, ...], weights: tuple[float, ...]) -> dict[str, list]:
    new = _split(rng, n, _APPLICANT_WEIGHTS)
    carried_over = _split(rng, carried_over_n, _APPLICANT_WEIGHTS)
    per_column: list[list[int]] = []  # per applicant column, the outcome counts
    forward: list[int] = []
    for c in range(6):
        avail = new[c] + carried_over[c]
        cf = 0 if avail == 0 or rng.random() < 0.55 else min(avail, int(avail * rng.uniform(0, 0.12)) + rng.randint(0, 1))
        forward.append(cf)
        per_column.append(_split(rng, avail - cf, weights))
    by_row = dict(zip(outcome_keys, (list(r) for r in zip(*per_column, strict=True)), strict=True))
    fixed = {"new_received": new, "carried_over": carried_over, "carried_forward": forward,
             "total": [sum(col) for col in per_column]}
    out: dict[str, list] = {}
    for key in row_keys:
        vals = fixed[key] if key in fixed else by_row[key]
        out[key] = [*vals, sum(vals)]
    return out


def _break_rules(rng: random.Random, rec: dict[str, Any]) -> None:
    """Make 1-3 sum rules fail (as real reports do), keeping every value >= 0."""
    apps = rec["applications"]
    keys = list(apps)
    for _ in range(rng.randint(1, 3)):
        what = rng.randrange(4)
        delta = rng.randint(1, 5)
        if what == 0:  # a row total
            apps[rng.choice(keys)][6] += delta
        elif what == 1:  # a total-row cell (breaks detail sum and the column identity)
            apps["total"][rng.randrange(7)] += delta
        elif what == 2:  # carried_forward (breaks the column identity)
            col = rng.randrange(6)
            apps["carried_forward"][col] += delta
            apps["carried_forward"][6] += delta
        else:  # a table-4 group total
            rec["review_litigation"][5 * rng.randrange(3) + 4] += delta


def apply_blanks(rng: random.Random, rec: dict[str, Any]) -> None:
    """Blank cells as published: stray blanks in table 2, blank zeros or a blank 总计 column in table 3, blank zeros in 4."""
    style = rng.randrange(4)
    if style in (0, 3):
        for vals in rec["active_disclosure"].values():
            for m in vals:
                if rng.random() < 0.12:
                    vals[m] = None
    if style in (1, 3):
        for vals in rec["applications"].values():
            for i, v in enumerate(vals):
                if v == 0 and rng.random() < 0.5:
                    vals[i] = None
        rec["review_litigation"] = [None if v == 0 and rng.random() < 0.5 else v for v in rec["review_litigation"]]
    if style == 2:  # some reports leave the 总计 column blank on detail rows
        for r in APPLICATION_ROWS[rec["format_version"]]:
            if r.group == "outcome":
                rec["applications"][r.key][6] = None


def random_record(rng: random.Random, *, year: int | None = None, format_version: str | None = None,
                  organ: str | None = None, admin_level: str | None = None, province: str | None = None,
                  consistent: bool = True, blanks: bool = False) -> dict[str, Any]:
    """A plausible canonical record. consistent: every table-3/table-4 sum rule holds exactly. blanks: some None cells
    (only zeros become blank in tables 3-4, or the 总计 column of detail rows, so sums still hold where printed)."""
    if year is None:
        year = {"2019": lambda: rng.choice((2019, 2020)), "2021": lambda: rng.randint(2021, 2024)}.get(
            format_version or "", lambda: rng.randint(2019, 2024))()
    if format_version is None:
        format_version = "2019" if year < 2021 else "2021"
    if format_version not in FORMAT_VERSIONS:
        raise ValueError(f"unknown format_version {format_version!r}")
    organ, level, province, kind = _random_organ(rng, organ, admin_level, province)
    published = None
    if rng.random() < 0.75:
        month = rng.choice((1, 1, 1, 2, 3, 3))
        published = f"{year + 1}-{month:02d}-{rng.randint(1, 28 if month == 2 else 31):02d}"
    index_number = None
    if rng.random() < 0.5:
        prefix = (f"{rng.randrange(10**8, 10**9):09d}" if rng.random() < 0.4
                  else f"11{rng.randrange(110000, 660000)}{rng.randrange(10**9, 10**10)}")
        index_number = f"{prefix}/{year + 1}-{rng.randint(1, 300):05d}"
    applications, review = _applications(rng, format_version, level, kind)
    rec: dict[str, Any] = {
        "year": year, "format_version": format_version, "organ": organ, "admin_level": level, "province": province,
        "published_date": published, "index_number": index_number,
        "active_disclosure": _active_disclosure(rng, format_version, level, kind),
        "applications": applications, "review_litigation": review,
    }
    if not consistent:
        _break_rules(rng, rec)
    if blanks:
        apply_blanks(rng, rec)
    return rec


__all__ = ["apply_blanks", "random_record"]

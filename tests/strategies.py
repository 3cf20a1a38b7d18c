"""Hypothesis strategies for the renderer's records and layouts (property tests only: hypothesis is a dev
dependency, never imported by the package)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from schemas.form import ACTIVE_DISCLOSURE, APPLICATION_ROWS, FORMAT_VERSIONS, REVIEW_GROUPS
from tasks.synth.records import apply_blanks, random_record
from tasks.synth.render import LAYOUTS


def records(format_version: str | None = None, *, blanks: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """Valid, consistent records whose numbers shrink towards zero (metadata comes from random_record)."""
    small = st.one_of(st.just(0), st.integers(0, 9), st.integers(0, 3000))
    big = st.one_of(st.just(0), st.integers(0, 99), st.integers(0, 5_000_000))
    money = st.one_of(st.just(0), st.integers(0, 10**6), st.integers(0, 10**10).map(
        lambda x: x // 10**4 if x % 10**4 == 0 else x / 10**4))

    @st.composite
    def build(draw: Callable) -> dict[str, Any]:
        fv = format_version or draw(st.sampled_from(FORMAT_VERSIONS))
        year = draw(st.integers(2019, 2020) if fv == "2019" else st.integers(2021, 2025))
        rec = random_record(random.Random(draw(st.integers(0, 2**32 - 1))), year=year, format_version=fv)
        for item in ACTIVE_DISCLOSURE[fv]:
            vals = rec["active_disclosure"][item.key]
            for m in item.measures:
                if m == "change":
                    vals[m] = draw(st.integers(-5000, 5000))
                elif m in ("amount_10k_yuan", "amount"):
                    vals[m] = draw(money)
                else:
                    vals[m] = draw(big if m == "decisions" else small)
        rows = APPLICATION_ROWS[fv]
        outcome_keys = [r.key for r in rows if r.group == "outcome"]
        cols: dict[str, list[int]] = {r.key: [] for r in rows}
        for _ in range(6):
            outs = [draw(small) for _ in outcome_keys]
            forward = draw(small)
            avail = sum(outs) + forward
            carried = draw(st.integers(0, avail))
            for k, x in zip(outcome_keys, outs, strict=True):
                cols[k].append(x)
            cols["total"].append(sum(outs))
            cols["carried_forward"].append(forward)
            cols["carried_over"].append(carried)
            cols["new_received"].append(avail - carried)
        rec["applications"] = {k: [*v, sum(v)] for k, v in cols.items()}
        review: list[int] = []
        for _ in REVIEW_GROUPS:
            parts = [draw(small) for _ in range(4)]
            review += [*parts, sum(parts)]
        rec["review_litigation"] = review
        if blanks and draw(st.booleans()):
            apply_blanks(random.Random(draw(st.integers(0, 2**32 - 1))), rec)
        return rec

    return build()


def layouts() -> st.SearchStrategy[str]:
    return st.sampled_from(LAYOUTS)

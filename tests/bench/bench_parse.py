"""Parse + validate throughput on one core, I/O excluded: a mixed corpus from the renderer (every layout, both forms)."""

from __future__ import annotations

import os

os.environ.setdefault("POLARS_MAX_THREADS", "1")

import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from tasks.corpus import ENCODING_WEIGHTS, LAYOUT_WEIGHTS  # noqa: E402
from tasks.divisions import sample_divisions  # noqa: E402
from tasks.parse import Document, parse_documents  # noqa: E402
from tasks.render import random_record, render_bytes  # noqa: E402


def corpus(n: int, seed: int = 1) -> list[Document]:
    rng = random.Random(seed)
    organs = sample_divisions(rng, 500)
    docs = []
    for i in range(n):
        organ, level, div = organs[rng.randrange(len(organs))]
        rec = random_record(rng, organ=organ, admin_level=level, province=div.province)
        layout = rng.choices(list(LAYOUT_WEIGHTS), list(LAYOUT_WEIGHTS.values()))[0]
        enc = rng.choices(list(ENCODING_WEIGHTS), list(ENCODING_WEIGHTS.values()))[0]
        docs.append(Document(f"bench/{i}", render_bytes(rec, layout, rng=i, encoding=enc)))
    return docs


def stages(docs: list[Document]) -> dict[str, float]:
    """CPU seconds per stage of parse_documents over `docs` (the functions it calls, timed in place)."""
    import tasks.parse as P

    spent: dict[str, float] = {}
    names = {"decode_bytes": "decode", "html_to_text": "HTML to rows", "normalise_batch": "normalise",
             "prepare": "metadata + sections", "fast_tables": "tables (batch reader)",
             "extract_tables": "tables (per document) + prose", "resolve_organ": "divisions", "validate": "rules"}
    saved = {n: getattr(P, n) for n in names}

    def timed(name, f):
        def run(*a, **k):
            t = time.process_time()
            try:
                return f(*a, **k)
            finally:
                spent[names[name]] = spent.get(names[name], 0.0) + time.process_time() - t
        return run

    try:
        for n, f in saved.items():
            setattr(P, n, timed(n, f))
        t = time.process_time()
        for i in range(0, len(docs), 1000):
            P.parse_documents(docs[i:i + 1000])
        spent["total"] = time.process_time() - t
    finally:
        for n, f in saved.items():
            setattr(P, n, f)
    spent["other (frames, records)"] = spent["total"] - sum(v for k, v in spent.items() if k != "total")
    return spent


def library_floor(docs: list[Document]) -> dict[str, float]:
    """CPU seconds of the work no parser of ours can skip, done by the libraries alone: the codec decoding the bytes
    (the encoding already known), and for HTML pages libxml2 parsing the page and libxslt walking it. No Python of
    ours runs in between, so this bounds the reports/s any parse built on these libraries can reach here."""
    from tasks.decode import _parse_html, _transform, decode_bytes

    known = [(d.data, decode_bytes(d.data)) for d in docs]
    spent = {"decode (codec only)": 0.0, "HTML parse (libxml2)": 0.0, "HTML walk (libxslt)": 0.0}
    transform = _transform()
    for data, dec in known:
        if dec.text is None or dec.encoding is None:
            continue
        t = time.process_time()
        try:
            text = data.decode(dec.encoding, errors="replace")
        except LookupError:  # a label that names no single codec (a file decoded line by line): not counted
            continue
        spent["decode (codec only)"] += time.process_time() - t
        if dec.is_html:
            t = time.process_time()
            root = _parse_html(dec.text)
            spent["HTML parse (libxml2)"] += time.process_time() - t
            if root is not None:
                t = time.process_time()
                str(transform(root))
                spent["HTML walk (libxslt)"] += time.process_time() - t
        del text
    return spent


def main() -> None:
    n = int(os.environ.get("BENCH_REPORTS", "3000"))
    docs = corpus(n)
    parse_documents(docs[:200])  # warm caches (division table, compiled patterns)
    rates, cpu_rates = [], []
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        for i in range(0, n, 1000):
            parse_documents(docs[i:i + 1000])
        rates.append(n / (time.perf_counter() - t))
        cpu_rates.append(n / (time.process_time() - c))
    size = sum(len(d.data) for d in docs) / n
    print(f"parse+validate, one core: {n} mixed reports (mean {size / 1024:.1f} KiB), batches of 1,000")
    print(f"reports/s per run: {', '.join(f'{r:.0f}' for r in rates)}; median {statistics.median(rates):.0f} reports/s "
          f"(target 3,000); by CPU time {statistics.median(cpu_rates):.0f} reports/s")
    spent = stages(docs)
    total = spent.pop("total")
    print("where the time goes (CPU, share of parse_documents):")
    for name, s in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {name:32s} {s / n * 1e6:7.0f} us/report  {s / total:6.1%}")
    floors = [library_floor(docs) for _ in range(3)]
    floor = {k: statistics.median(f[k] for f in floors) for k in floors[0]}
    per_report = sum(floor.values()) / n
    print(f"library floor (median of 3): {per_report * 1e6:.0f} us/report of library work alone = at most "
          f"{1 / per_report:,.0f} reports/s with nothing else done; the target's budget is 333 us/report "
          f"({per_report / (1 / 3000):.0%} of it)")
    for name, s in floor.items():
        print(f"  {name:32s} {s / n * 1e6:7.0f} us/report")


if __name__ == "__main__":
    main()

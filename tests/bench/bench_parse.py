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


def main() -> None:
    n = int(os.environ.get("BENCH_REPORTS", "3000"))
    docs = corpus(n)
    parse_documents(docs[:200])  # warm caches (division table, compiled patterns)
    rates = []
    for _ in range(3):
        t = time.perf_counter()
        for i in range(0, n, 1000):
            parse_documents(docs[i:i + 1000])
        rates.append(n / (time.perf_counter() - t))
    size = sum(len(d.data) for d in docs) / n
    print(f"parse+validate, one core: {n} mixed reports (mean {size / 1024:.1f} KiB), batches of 1,000")
    print(f"reports/s per run: {', '.join(f'{r:.0f}' for r in rates)}; median {statistics.median(rates):.0f} reports/s "
          f"(target 3,000)")


if __name__ == "__main__":
    main()

"""Synthetic reports: the renderer, the benchmark and demo corpus and its attachments. Tests, benchmarks and
`govreports generate`/`demo` use it; the pipeline never imports it."""

"""Pure parsing, validation and storage functions, and the thin Prefect tasks around them."""

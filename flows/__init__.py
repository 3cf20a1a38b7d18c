"""Prefect flows and the govreports command line."""

"""Output table declarations and the report form as data."""

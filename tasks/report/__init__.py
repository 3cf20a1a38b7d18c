"""What analysts read: the data-quality report, BI views, Superset."""

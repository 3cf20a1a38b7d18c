"""The form's rules: within one report, and across a publisher's years."""

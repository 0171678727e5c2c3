"""The pipeline's database: ids, states and times only, never a child's personal data."""

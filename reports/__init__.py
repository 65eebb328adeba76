"""HTML discrepancy reports built from ``--results`` files (reserved)."""

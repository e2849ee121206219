"""Statistics: the aggregates counted from stored events, and what reads them (the overview,
regression reports, test-run reports)."""

"""The query API, authenticated by an app's secret read key or its owner's dashboard session."""

# Importing the package registers every route on the `api` blueprint, whichever module the
# blueprint is taken from.
from app.api import jobs, plan_checks, plan_code, plans, routes, test_runs  # noqa: F401

"""The query API, authenticated by an app's secret read key."""

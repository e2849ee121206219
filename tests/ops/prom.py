"""Reading `GET /metrics` in tests: scrape, parse with prometheus_client's own parser, look up."""

from __future__ import annotations

import urllib.request
from pathlib import Path

from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """{(sample name, sorted labels): value} of an exposition."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(base_url: str) -> Samples:
    """The samples a real scrape of `base_url/metrics` returns (it must answer 200)."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return parse(response.read().decode())


def scrape_client(client) -> Samples:
    """The same through a Flask test client."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return parse(response.get_data(as_text=True))


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; a KeyError when the scrape lacks it (a default of 0 would let every
    "== 0" check pass for a series that is never exported)."""
    key = (name, tuple(sorted(labels.items())))
    if key not in samples:
        present = sorted(str(labels) for sample, labels in samples if sample == name)
        raise KeyError(f"no sample {name}{dict(labels)} in the scrape; {name} has: {present}")
    return samples[key]


def delta(after: Samples, before: Samples, name: str, **labels: str) -> float:
    """How much a sample grew between two scrapes: it must be in the later one; a labelled
    counter first incremented in between is absent from the earlier one, which counts as 0."""
    grown = value(after, name, **labels)
    return grown - before.get((name, tuple(sorted(labels.items()))), 0.0)


def names(samples: Samples) -> set[str]:
    """The sample names present."""
    return {name for name, _ in samples}


def file_samples(path: Path) -> Samples:
    """The samples one process wrote to its file in the multiprocess folder."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for metric in MultiProcessCollector.merge([str(path)])
        for sample in metric.samples
    }

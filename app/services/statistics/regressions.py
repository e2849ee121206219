"""Release regression reports: what changed in violations between two app versions, read from
the hourly aggregates (events and violations by app version), never from raw events.

For each (event, rule, path), a version's rate is its violations over its events of that name:
- **new**: the head build violates it and the base build never did;
- **gone**: the base build did and the head build, which sent that event, does not;
- **more frequent**: both do, and the head's rate is at least `FACTOR` times the base's.
A release regressed when anything is new or more frequent. Events a build never sent say
nothing about it: their rules are neither new nor gone.

Like with like: a verdict depends on the plan that judged it as much as on the build. The report
compares the two builds' events judged by the same plan version (the newest both were judged
by) and leaves the others out; its `basis` says which. When no plan version judged events of
both builds, the changes are listed with basis `different_plan_versions`, `comparable` false
and `regressed` null: they may come from the plan, not the build.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select, text

from app.extensions import db
from app.models import EventVersionStat, ViolationStat
from app.services.statistics.aggregates import violation_totals

FACTOR = 1.5


def app_versions(app_id: int) -> list[str]:
    """The app versions the app's stored events carry, newest first by name.

    A loose index scan of (app_id, app_version, id): one probe per version, where a DISTINCT
    over a week of hourly statistics read ~50,000 rows at 1M events (`make pages`)."""
    versions = db.session.scalars(
        text(
            "WITH RECURSIVE v(version) AS ("
            " SELECT min(app_version) FROM events WHERE app_id = :app_id AND app_version > ''"
            " UNION ALL"
            " SELECT (SELECT min(app_version) FROM events"
            "         WHERE app_id = :app_id AND app_version > v.version)"
            " FROM v WHERE v.version IS NOT NULL"
            ") SELECT version FROM v WHERE version IS NOT NULL"
        ),
        {"app_id": app_id},
    )
    return sorted(versions, key=_version_key, reverse=True)


def _version_key(version: str) -> tuple:
    """2.10.0 after 2.9.1: numeric parts compare as numbers. ASCII digits only: `²` passes
    str.isdigit but not int(), and `١` (Arabic-Indic) is a digit to int() but not to a reader."""
    return tuple(
        (0, int(p), "") if p.isascii() and p.isdigit() else (1, 0, p) for p in version.split(".")
    )


def _plan_versions(app_id: int, version: str) -> list[int]:
    """The plan versions that judged the counted events of app version `version` (0: none)."""
    return sorted(
        db.session.scalars(
            select(EventVersionStat.plan_version)
            .where(EventVersionStat.app_id == app_id, EventVersionStat.app_version == version)
            .distinct()
        )
    )


def _events(app_id: int, version: str, plans: list[int]) -> Counter:
    rows = db.session.execute(
        select(EventVersionStat.event_name, func.sum(EventVersionStat.count))
        .where(EventVersionStat.app_id == app_id, EventVersionStat.app_version == version)
        .where(EventVersionStat.plan_version.in_(plans))
        .group_by(EventVersionStat.event_name)
    )
    return Counter({name: int(n) for name, n in rows})


def _totals(app_id: int, version: str, plans: list[int]) -> Counter:
    return violation_totals(
        app_id, ViolationStat.app_version == version, ViolationStat.plan_version.in_(plans)
    )


def comparison_basis(base: str, head: str, plans: dict[str, list[int]]) -> dict[str, Any]:
    """Which counts the report compares: those of the newest plan version that judged events of
    both builds, or, when there is none, all of them (said to be not comparable)."""
    shared = set(plans["base"]) & set(plans["head"])
    if shared:
        version = max(shared)
        return {
            "kind": "same_plan_version",
            "plan_version": version,
            "comparable": True,
            "text": f"Events of {base} and {head} judged by plan version {version}; "
            "events judged by other plan versions are left out.",
        }
    return {
        "kind": "different_plan_versions",
        "plan_version": None,
        "comparable": False,
        "text": f"No plan version judged events of both: {base} by "
        f"{_named(plans['base'])}, {head} by {_named(plans['head'])}. The changes may come "
        "from the plan, not the release: send events of both builds under the current plan "
        "to compare like with like.",
    }


def _named(plans: list[int]) -> str:
    return ", ".join(f"v{p}" if p else "no plan" for p in plans)


def regression_report(app_id: int, base: str, head: str) -> dict[str, Any] | None:
    """The changes from `base` to `head`; None when either version sent no events."""
    plans = {"base": _plan_versions(app_id, base), "head": _plan_versions(app_id, head)}
    if not plans["base"] or not plans["head"]:
        return None
    basis = comparison_basis(base, head, plans)
    versions = {"base": base, "head": head}
    # Like with like: only the shared plan version's counts, when there is one.
    used = {w: [basis["plan_version"]] if basis["comparable"] else plans[w] for w in versions}
    events = {w: _events(app_id, versions[w], used[w]) for w in versions}
    found = {w: _totals(app_id, versions[w], used[w]) for w in versions}
    changes: dict[str, list[dict[str, Any]]] = {"new": [], "gone": [], "more_frequent": []}
    for key in sorted(found["base"].keys() | found["head"].keys()):
        name, rule, path = key
        side = {}
        for which in ("base", "head"):
            count, sent = found[which][key], events[which][name]
            side[which] = {"count": count, "events": sent, "rate": count / sent if sent else None}
        entry = {"event_name": name, "rule": rule, "path": path, **side}
        b, h = side["base"], side["head"]
        if h["count"] and not b["count"]:
            changes["new"].append(entry)
        elif b["count"] and not h["count"] and h["events"]:
            changes["gone"].append(entry)
        elif b["count"] and h["count"] and h["rate"] >= b["rate"] * FACTOR:
            changes["more_frequent"].append(entry)
    return {
        "app_id": app_id,
        "base": base,
        "head": head,
        "basis": basis,
        "plan_versions": plans,
        "events": {"base": sum(events["base"].values()), "head": sum(events["head"].values())},
        **changes,
        # Null when the builds were judged by different plans: no verdict on the release.
        "regressed": bool(changes["new"] or changes["more_frequent"])
        if basis["comparable"]
        else None,
    }

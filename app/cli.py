"""The admin command line: `flask --app run apps …`, `plan …`, `dead-letters …`, `jobs …`,
`users …`, `stats …`, `events …`."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from app.database import upgrade_if_micro
from app.extensions import db
from app.models import Job, TrackedApp
from app.models.types import utcnow
from app.services import apps
from app.services.accounts import users as accounts
from app.services.jobs import imports, revalidation
from app.services.jobs import runner as jobs
from app.services.plans import starters
from app.services.plans import versions as plans
from app.services.statistics import aggregates as stats
from app.services.statistics.aggregates import MAX_RECOUNT_HOURS
from app.services.storage import dead_letters, partitions, retention
from app.task_states import JOB_ACTIVE, JOB_FINISHED, JOB_STATES
from app.tasks.events import queue_events
from app.tasks.jobs import queue_job
from app.validation import PlanError, pii

apps_cli = AppGroup("apps", help="Create, list, re-key and give apps an owner.")
plan_cli = AppGroup("plan", help="Publish and show tracking plans.")
dead_letters_cli = AppGroup("dead-letters", help="List and replay events that could not be stored.")
jobs_cli = AppGroup("jobs", help="Re-validation and import jobs: start, follow, cancel.")
users_cli = AppGroup("users", help="Create dashboard accounts.")
stats_cli = AppGroup("stats", help="Count stored events into the statistics now.")
events_cli = AppGroup("events", help="Stored events: partitions and retention, now.")
# How often `--wait` looks at a job, and after how long a job still queued earns a hint.
POLL_SECONDS = 0.5
NO_WORKER_HINT_SECONDS = 10


def _load_plan(path: str) -> dict[str, Any]:
    try:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
        plans.parse(body)
    except (OSError, ValueError, PlanError) as exc:
        raise click.ClickException(f"{path}: {exc}")
    except RecursionError:  # the parser's own limit, far deeper than plans may nest
        raise click.ClickException(f"{path}: the plan nests too deeply")
    return body


def _app(ref: str) -> TrackedApp:
    """The app an admin names by id or by name; a name several apps share must be an id."""
    app = apps.find_app(ref)
    if app is None:
        raise click.ClickException(f"no app with id or name {ref!r}")
    if app.name == ref and not ref.isdigit():
        named = apps.apps_called(ref)
        if len(named) > 1:
            ids = ", ".join(str(other.id) for other in named)
            raise click.ClickException(f"several apps are called {ref!r} (ids {ids}): use an id")
    return app


@apps_cli.command("create")
@click.argument("name")
@click.option(
    "--plan", "plan_file", type=click.Path(dir_okay=False), help="A plan file to publish."
)
@click.option(
    "--template",
    type=click.Choice([starters.EMPTY, starters.DEMO]),
    help="Start from a template plan instead of a file (demo: the demo app's plan).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the new app as JSON.")
def create(name: str, plan_file: str | None, template: str | None, as_json: bool) -> None:
    """Create an app; prints its write key and (once only) its read key."""
    upgrade_if_micro()
    if plan_file and template:
        raise click.UsageError("give --plan or --template, not both")
    if template:
        body = starters.template_plan(template)
    else:
        body = _load_plan(plan_file) if plan_file else None
    try:
        new = apps.create_app_record(name, body)
    except ValueError as exc:
        raise click.ClickException(str(exc))
    if as_json:
        click.echo(json.dumps(new.to_dict()))
        return
    version = new.app.plan_version
    plan = "no plan yet" if version is None else f"plan version {version}"
    click.echo(f"app {new.app.id} {new.app.name!r} ({plan})")
    click.echo(f"write key: {new.app.write_key}")
    click.echo(f"read key:  {new.read_key}   (shown once; keep it secret)")


@apps_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
def list_(as_json: bool) -> None:
    """List apps with their write keys and published plan versions (--json: nothing if none)."""
    upgrade_if_micro()
    found = apps.list_apps()
    if not found and not as_json:
        click.echo("No apps.")
    for app in found:
        row = {
            "id": app.id,
            "name": app.name,
            "write_key": app.write_key,
            "plan_version": app.plan_version,
        }
        click.echo(
            json.dumps(row)
            if as_json
            else f"{app.id}\t{app.name}\t{app.write_key}\tplan v{app.plan_version}"
        )


@apps_cli.command("set-owner")
@click.argument("app_ref", metavar="APP")
@click.argument("email", metavar="EMAIL")
@click.option("--json", "as_json", is_flag=True, help="Print the app and its owner as JSON.")
def set_owner(app_ref: str, email: str, as_json: bool) -> None:
    """Give APP (id or name) to the dashboard account EMAIL; it shows in their apps."""
    upgrade_if_micro()
    app = _app(app_ref)
    user = accounts.find_user(email)
    if user is None:
        raise click.ClickException(f"no account with the e-mail address {email!r}")
    apps.set_owner(app, user.id)
    if as_json:
        click.echo(json.dumps({"id": app.id, "name": app.name, "owner": user.email}))
        return
    click.echo(f"app {app.id} {app.name!r} now belongs to {user.email}")


@apps_cli.command("pii-policy")
@click.argument("app_ref", metavar="APP")
@click.argument("policy", type=click.Choice(pii.POLICIES))
def pii_policy(app_ref: str, policy: str) -> None:
    """What personal data in APP's property values does: warn, fail or off (docs/pii.md)."""
    upgrade_if_micro()
    app = _app(app_ref)
    apps.set_pii_policy(app, policy)
    click.echo(f"app {app.id} {app.name!r}: PII policy {policy}")


@apps_cli.command("rotate-key")
@click.argument("app_ref", metavar="APP")
@click.option("--read", "read", is_flag=True, help="Rotate the read key instead of the write key.")
def rotate_key(app_ref: str, read: bool) -> None:
    """Give an app a new write key (or read key); the old one stops working at once."""
    upgrade_if_micro()
    app = _app(app_ref)
    if read:
        click.echo(f"read key: {apps.rotate_read_key(app)}")
    else:
        click.echo(f"write key: {apps.rotate_write_key(app)}")


@plan_cli.command("set")
@click.argument("app_ref", metavar="APP")
@click.argument("plan_file", metavar="FILE", type=click.Path(dir_okay=False))
@click.option("--draft", is_flag=True, help="Save as a draft instead of publishing.")
def set_plan(app_ref: str, plan_file: str, draft: bool) -> None:
    """Save FILE as APP's next plan version and publish it (APP: id or name)."""
    upgrade_if_micro()
    app = _app(app_ref)
    plan = plans.save_plan(app, _load_plan(plan_file), publish=not draft)
    state = "draft" if draft else "published"
    click.echo(f"app {app.id} plan version {plan.version} {state}")


@plan_cli.command("show")
@click.argument("app_ref", metavar="APP")
def show_plan(app_ref: str) -> None:
    """Print APP's published plan."""
    upgrade_if_micro()
    app = _app(app_ref)
    click.echo(json.dumps(plans.published_body(app.id, app.plan_version), indent=2))


@dead_letters_cli.command("list")
@click.option("--app", "app_ref", help="Only this app (id or name).")
@click.option("--all", "show_all", is_flag=True, help="Include replayed ones.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
def list_dead(app_ref: str | None, show_all: bool, as_json: bool) -> None:
    """List dead letters, newest first (--json: nothing if there are none)."""
    upgrade_if_micro()
    app_id = _app(app_ref).id if app_ref else None
    found = dead_letters.list_dead_letters(app_id, pending_only=not show_all, limit=10_000)
    if not found and not as_json:
        click.echo("No dead letters." if show_all else "No pending dead letters.")
    for dead in found:
        row = dead_letters.dead_letter_to_dict(dead)
        click.echo(
            json.dumps(row)
            if as_json
            else f"{dead.id}\tapp {dead.app_id}\t{dead.task_id}\t{dead.error[:120]}"
        )


@dead_letters_cli.command("replay")
@click.argument("ids", nargs=-1, type=int)
@click.option("--app", "app_ref", help="Only this app (id or name).")
@click.option("--all", "replay_all", is_flag=True, help="Replay every pending dead letter.")
def replay_dead(ids: tuple[int, ...], app_ref: str | None, replay_all: bool) -> None:
    """Queue dead letters again (by id, or --all); each is stored at most once."""
    upgrade_if_micro()
    if not ids and not replay_all:
        raise click.UsageError("give dead letter ids, or --all")
    app_id = _app(app_ref).id if app_ref else None
    pending = dead_letters.list_dead_letters(app_id, pending_only=True, limit=100_000)
    missing = sorted(set(ids) - {d.id for d in pending})
    if missing:  # a typo or an already replayed id should not pass as "replayed 0"
        raise click.ClickException(f"no pending dead letter {', '.join(map(str, missing))}")
    chosen = [d for d in pending if replay_all or d.id in set(ids)]
    click.echo(f"replayed {dead_letters.replay(chosen, queue_events)} dead letter(s)")


def _job(job_id: int) -> Job:
    job = db.session.get(Job, job_id)
    if job is None:
        raise click.ClickException(f"no job {job_id}")
    return job


def _progress(job: Job) -> str:
    """One line of a job's state and progress."""
    row = jobs.job_to_dict(job, with_result=False)
    total = "?" if job.total is None else job.total  # a re-validation counts once it starts
    line = f"job {job.id}\tapp {job.app_id}\t{job.kind}\t{job.state}\t{job.done}/{total}"
    if row["percent"] is not None:
        line += f" ({row['percent']}%)"
    if row["rate_per_second"]:
        line += f"\t{row['rate_per_second']}/s"
    if row["eta_seconds"] is not None and job.state in JOB_ACTIVE:
        line += f"\teta {row['eta_seconds']}s"
    if job.error:
        line += f"\t{job.error}"
    return line


def _queued(job: Job, wait: bool) -> None:
    """Queue a created job's task and print its id; with `wait`, follow it until it settles
    (progress on stderr, the job as JSON on stdout; exit status 1 unless it is done)."""
    queue_job(job.id)
    if not wait:
        click.echo(job.id)
        return
    job_id, started, last = job.id, time.monotonic(), ""
    hinted = False
    while True:
        db.session.rollback()  # end the read transaction: the next look sees the worker's commits
        job = _job(job_id)
        line = _progress(job)
        if line != last:
            click.echo(line, err=True)
            last = line
        if job.state in JOB_FINISHED:
            break
        if (
            job.state == "queued"
            and not hinted
            and time.monotonic() - started > NO_WORKER_HINT_SECONDS
        ):
            click.echo("still queued: is a worker running (`make run` or `make up`)?", err=True)
            hinted = True
        time.sleep(POLL_SECONDS)
    click.echo(json.dumps(jobs.job_to_dict(job)))
    if job.state != "done":
        sys.exit(1)


@jobs_cli.command("list")
@click.argument("app_ref", metavar="[APP]", required=False)
@click.option("--state", type=click.Choice(JOB_STATES), help="Only jobs in this state.")
@click.option("--kind", type=click.Choice(jobs.KINDS), help="Only jobs of this kind.")
@click.option("--limit", default=50, show_default=True, help="At most this many jobs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
def list_jobs(
    app_ref: str | None, state: str | None, kind: str | None, limit: int, as_json: bool
) -> None:
    """List jobs, newest first (of APP only, when given; --json: nothing if none)."""
    upgrade_if_micro()
    app_id = _app(app_ref).id if app_ref else None
    found = jobs.list_jobs(app_id, state, kind, limit)
    if not found and not as_json:
        click.echo("No jobs.")
    for job in found:
        click.echo(
            json.dumps(jobs.job_to_dict(job, with_result=False)) if as_json else _progress(job)
        )


@jobs_cli.command("show")
@click.argument("job_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the job as JSON.")
def show_job(job_id: int, as_json: bool) -> None:
    """Show a job's progress and result."""
    upgrade_if_micro()
    job = _job(job_id)
    if as_json:
        click.echo(json.dumps(jobs.job_to_dict(job)))
        return
    click.echo(_progress(job))
    click.echo(json.dumps(job.params))
    click.echo(json.dumps(job.result, indent=2))


@jobs_cli.command("cancel")
@click.argument("job_id", metavar="ID", type=int)
def cancel_job(job_id: int) -> None:
    """Cancel a job (a running one stops after its current batch)."""
    upgrade_if_micro()
    try:
        job = jobs.cancel(_job(job_id))
    except jobs.JobError as exc:
        raise click.ClickException(exc.message)
    click.echo(f"job {job.id} {'cancelled' if job.state == 'cancelled' else 'cancelling'}")


@jobs_cli.command("revalidate")
@click.argument("app_ref", metavar="APP")
@click.option("--plan-version", "plan_version", type=int, help="A saved plan version (or draft).")
# The old name of --plan-version, kept so scripts written for it still work.
@click.option("--version", "old_version", type=int, hidden=True)
@click.option("--plan", "plan_file", type=click.Path(dir_okay=False), help="A plan file.")
@click.option("--since", help="Only events received at or after this ISO 8601 time.")
@click.option("--until", help="Only events received before this ISO 8601 time.")
@click.option("--wait", is_flag=True, help="Follow the job until it settles.")
def revalidate(
    app_ref: str,
    plan_version: int | None,
    old_version: int | None,
    plan_file: str | None,
    since: str | None,
    until: str | None,
    wait: bool,
) -> None:
    """Queue a re-validation of APP's stored events against a plan version; prints its id."""
    upgrade_if_micro()
    if plan_version is not None and old_version is not None:
        raise click.UsageError("give --plan-version only")
    if old_version is not None:
        click.echo("--version is deprecated: use --plan-version", err=True)
        plan_version = old_version
    if plan_version is None and not plan_file:  # the API's message names its JSON fields
        raise click.UsageError("give --plan-version or --plan")
    app = _app(app_ref)
    body: dict[str, Any] = {"plan_version": plan_version, "since": since, "until": until}
    if plan_file:
        body["plan"] = _load_plan(plan_file)
    try:
        job = revalidation.create(app, {k: v for k, v in body.items() if v is not None})
    except jobs.JobError as exc:
        raise click.ClickException(exc.message)
    _queued(job, wait)


@jobs_cli.command("import")
@click.argument("app_ref", metavar="APP")
@click.argument("path", metavar="FILE", type=click.Path(exists=True, dir_okay=False))
@click.option("--wait", is_flag=True, help="Follow the job until it settles.")
def import_file(app_ref: str, path: str, wait: bool) -> None:
    """Queue an import of an NDJSON file (or a gzip of one) into APP; prints its id."""
    upgrade_if_micro()
    app = _app(app_ref)
    try:
        data = Path(path).read_bytes()
        job = imports.create(app, Path(path).name, data, current_app.config["IMPORT_MAX_BYTES"])
    except jobs.JobError as exc:
        raise click.ClickException(exc.message)
    _queued(job, wait)


@users_cli.command("create")
@click.argument("email")
@click.option(
    "--password",
    envvar="LVD_USER_PASSWORD",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="The password (else $LVD_USER_PASSWORD, else asked for).",
)
@click.option("--verified", is_flag=True, help="Mark the address confirmed (no code is mailed).")
@click.option("--json", "as_json", is_flag=True, help="Print the account as JSON.")
def create_user(email: str, password: str, verified: bool, as_json: bool) -> None:
    """Create a dashboard account for EMAIL (e.g. on a machine that sends no mail)."""
    upgrade_if_micro()
    try:
        user = accounts.sign_up(email, password)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc))
    if user is None:
        raise click.ClickException(f"an account with the e-mail address {email!r} exists")
    if verified:
        accounts.verify_email_now(user)
    if as_json:
        click.echo(json.dumps({"id": user.id, "email": user.email, "verified": verified}))
        return
    click.echo(f"account {user.id} {user.email}" + (" (confirmed)" if verified else ""))


def _timed(what: str, count: int, started: float, as_json: bool) -> None:
    """Print how many events a statistics run counted and how long it took."""
    seconds = time.perf_counter() - started
    if as_json:
        click.echo(json.dumps({"counted": count, "seconds": round(seconds, 6)}))
        return
    click.echo(f"{what} {count} event(s) in {seconds:.3f} s")


@stats_cli.command("count")
@click.option("--json", "as_json", is_flag=True, help="Print the count and seconds as JSON.")
def count_stats(as_json: bool) -> None:
    """Count the events stored since the last run into the statistics (what beat does every
    minute; the first run on a fresh database only notes where counting starts)."""
    upgrade_if_micro()
    started = time.perf_counter()
    _timed("counted", stats.count_new_events(), started, as_json)


@stats_cli.command("recount")
@click.argument("app_ref", metavar="APP")
@click.option(
    "--hours",
    default=1,
    show_default=True,
    type=click.IntRange(min=1, max=MAX_RECOUNT_HOURS),
    help="Hours to rebuild.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the count and seconds as JSON.")
def recount_stats(app_ref: str, hours: int, as_json: bool) -> None:
    """Rebuild APP's statistics of the last HOURS hours from its stored events (the dashboard's
    "Recount now", run here instead of by a worker)."""
    upgrade_if_micro()
    app = _app(app_ref)
    started = time.perf_counter()
    _timed("recounted", stats.recount(app.id, hours), started, as_json)


@events_cli.command("partitions")
@click.option("--behind-days", default=1, show_default=True, type=click.IntRange(min=0))
@click.option("--json", "as_json", is_flag=True, help="Print the days made and seconds as JSON.")
def make_partitions(behind_days: int, as_json: bool) -> None:
    """PostgreSQL: make the day partitions of `events` from BEHIND_DAYS back to a week ahead,
    and move rows waiting in the default partition into theirs (what beat does hourly)."""
    started = time.perf_counter()
    made = partitions.ensure_partitions(utcnow(), behind_days=behind_days)
    seconds = round(time.perf_counter() - started, 6)
    if as_json:
        click.echo(json.dumps({"made": [day.isoformat() for day in made], "seconds": seconds}))
        return
    click.echo(f"made {len(made)} partition(s) in {seconds:.3f} s")


@events_cli.command("delete-old")
@click.option("--json", "as_json", is_flag=True, help="Print the count and seconds as JSON.")
def delete_old(as_json: bool) -> None:
    """Delete the events past their app's retention (EVENT_RETENTION_DAYS or the app's own) now,
    all of them (beat does it hourly, a bounded number of batches at a time)."""
    upgrade_if_micro()
    started = time.perf_counter()
    days = current_app.config["EVENT_RETENTION_DAYS"]
    deleted, remaining = 0, True
    while remaining:
        gone, remaining = retention.delete_old_events(days, max_batches=100)
        deleted += gone
    seconds = round(time.perf_counter() - started, 6)
    if as_json:
        click.echo(json.dumps({"deleted": deleted, "seconds": seconds}))
        return
    click.echo(f"deleted {deleted} event(s) in {seconds:.3f} s")

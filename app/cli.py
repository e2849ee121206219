"""The admin command line: `flask --app run apps …` and `flask --app run plan …`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup

from app.models import App
from app.services import apps, dead_letters, plans
from app.services.schema import upgrade_if_micro
from app.tasks.events import replay_dead_letters
from app.validation import PlanError

apps_cli = AppGroup("apps", help="Create, list and re-key apps.")
plan_cli = AppGroup("plan", help="Publish and show tracking plans.")
dead_letters_cli = AppGroup("dead-letters", help="List and replay events that could not be stored.")


def _load_plan(path: str) -> dict[str, Any]:
    try:
        body = json.loads(Path(path).read_text(encoding="utf-8"))
        plans.parse(body)
    except (OSError, ValueError, PlanError) as exc:
        raise click.ClickException(f"{path}: {exc}")
    return body


def _app(ref: str) -> App:
    app = apps.find_app(ref)
    if app is None:
        raise click.ClickException(f"no app with id or name {ref!r}")
    return app


@apps_cli.command("create")
@click.argument("name")
@click.option(
    "--plan", "plan_file", type=click.Path(dir_okay=False), help="A plan file to publish."
)
@click.option("--json", "as_json", is_flag=True, help="Print the new app as JSON.")
def create(name: str, plan_file: str | None, as_json: bool) -> None:
    """Create an app; prints its write key and (once only) its read key."""
    upgrade_if_micro()
    body = _load_plan(plan_file) if plan_file else None
    try:
        new = apps.create_app_record(name, body)
    except ValueError as exc:
        raise click.ClickException(str(exc))
    if as_json:
        click.echo(json.dumps(new.to_dict()))
        return
    click.echo(f"app {new.app.id} {new.app.name!r} (plan version {new.app.plan_version})")
    click.echo(f"write key: {new.app.write_key}")
    click.echo(f"read key:  {new.read_key}   (shown once; keep it secret)")


@apps_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
def list_(as_json: bool) -> None:
    """List apps with their write keys and published plan versions."""
    upgrade_if_micro()
    for app in apps.list_apps():
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
    """List dead letters, newest first."""
    upgrade_if_micro()
    app_id = _app(app_ref).id if app_ref else None
    for dead in dead_letters.list_dead_letters(app_id, pending_only=not show_all, limit=10_000):
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
    chosen = [d for d in pending if replay_all or d.id in set(ids)]
    click.echo(f"replayed {replay_dead_letters(chosen)} dead letter(s)")

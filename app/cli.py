"""Command-line tasks: `flask --app app.wsgi install-templates` or `connector-sync-jobs ...`."""

import json
import sys

import click
from flask import Flask, current_app


@click.command("install-templates")
def install_templates_command():
    """Install the index templates (newer versions replace older ones) and create the indices."""
    storage = current_app.extensions["connector_storage"]
    outcome = storage.layout.install_index_templates()
    created = storage.layout.create_indices()
    click.echo(json.dumps({"templates": outcome, "created_indices": created}, indent=2))


@click.command("fail-stale-jobs")
@click.option("--older-than", default=None, help="Age such as 300s, 10m or 1h (default: STALE_JOB_SECONDS).")
@click.option("--max-jobs", default=1000, show_default=True, help="Most jobs to move in one run.")
def fail_stale_jobs_command(older_than: str | None, max_jobs: int):
    """Move running jobs that stopped reporting to `error`; prints how many moved."""
    from app.schemas.fields import Duration
    from app.services import stale_jobs

    seconds = (Duration().deserialize(older_than, "older_than") if older_than
               else current_app.config["STALE_JOB_SECONDS"])
    storage = current_app.extensions["connector_storage"]
    outcome = stale_jobs.fail_stale(storage, seconds, max_jobs=max_jobs)
    click.echo(json.dumps(outcome, indent=2))


def register(app: Flask) -> None:
    app.cli.add_command(install_templates_command)
    app.cli.add_command(fail_stale_jobs_command)


def main() -> None:
    """`connector-sync-jobs <command>`: the same commands without naming the app."""
    from flask.cli import FlaskGroup

    from app import create_app

    group = FlaskGroup(create_app=lambda: create_app({"INSTALL_TEMPLATES_ON_START": False}))
    sys.exit(group.main())

"""Command-line tasks: `flask --app app.wsgi install-templates` or `connector-sync-jobs ...`."""

import json
import sys

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup

from app import create_app
from app.exceptions import BadRequest
from app.schemas.loading import load_query
from app.schemas.sync_jobs import FailStaleQuery, RetentionQuery
from app.services import retention, stale_jobs
from app.services.retention import RetentionRule
from app.storage import IndexLayoutConflict


@click.command("install-templates")
def install_templates_command():
    """Install the index templates (newer versions replace older ones) and create the indices."""
    storage = current_app.extensions["connector_storage"]
    try:
        outcome = storage.layout.install_index_templates()
        created = storage.layout.create_indices()
    except IndexLayoutConflict as conflict:
        raise click.ClickException(conflict.reason) from None
    click.echo(json.dumps({"templates": outcome, "created_indices": created}, indent=2))


@click.command("fail-stale-jobs")
@click.option("--older-than", required=True,
              help="How long a running job must have been silent, such as 10m or 1h (at least 60s).")
@click.option("--connector-id", default=None, help="Only the jobs of this connector.")
@click.option("--max-jobs", default=1000, show_default=True, help="Most jobs to move in one run.")
def fail_stale_jobs_command(older_than: str, connector_id: str | None, max_jobs: int):
    """Move running jobs that stopped reporting to `error` and record that on their connectors;
    prints each outcome (as POST _connector/_sync_job/_stale/_error)."""
    arguments = {"older_than": older_than, "max_jobs": str(max_jobs)}
    if connector_id is not None:
        arguments["connector_id"] = connector_id
    try:
        query = load_query(FailStaleQuery(), arguments)
    except BadRequest as err:
        raise click.BadParameter(err.reason) from None
    storage = current_app.extensions["connector_storage"]
    outcome = stale_jobs.fail_stale(storage, query["older_than"],
                                    connector_id=query.get("connector_id"),
                                    max_jobs=query["max_jobs"])
    click.echo(json.dumps(outcome, indent=2))


@click.command("retention")
@click.option("--keep-last", default=None,
              help="Finished jobs of each connector to keep, newest first (at least 1).")
@click.option("--older-than", default=None,
              help="Only jobs created longer ago than this, such as 30d or 12h.")
@click.option("--connector-id", default=None, help="Only the jobs of this connector.")
@click.option("--delete", "delete_jobs", is_flag=True,
              help="Delete them; without it, print what would be deleted (a dry run).")
def retention_command(keep_last: str | None, older_than: str | None, connector_id: str | None,
                      delete_jobs: bool):
    """Print the finished jobs the retention rule would delete, or delete them with --delete
    (as GET _connector/_sync_job/_retention and POST .../_retention/_delete)."""
    arguments = {name: value for name, value in (("keep_last", keep_last),
                                                 ("older_than", older_than),
                                                 ("connector_id", connector_id))
                 if value is not None}
    try:
        rule = RetentionRule.from_request(load_query(RetentionQuery(), arguments))
    except BadRequest as err:
        raise click.BadParameter(err.reason) from None
    storage = current_app.extensions["connector_storage"]
    if delete_jobs:
        config = current_app.config
        outcome = retention.delete(storage, rule, batch_size=config["RETENTION_BATCH_SIZE"],
                                   pause=config["RETENTION_BATCH_PAUSE_SECONDS"])
    else:
        outcome = retention.dry_run(storage, rule)
    click.echo(json.dumps(outcome, indent=2))


def register(app: Flask) -> None:
    app.cli.add_command(install_templates_command)
    app.cli.add_command(fail_stale_jobs_command)
    app.cli.add_command(retention_command)


def main() -> None:
    """`connector-sync-jobs <command>`: the same commands without naming the app."""
    group = FlaskGroup(create_app=lambda: create_app({"INSTALL_TEMPLATES_ON_START": False}))
    sys.exit(group.main())

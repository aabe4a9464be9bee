"""Command-line tasks: `flask --app app.wsgi install-templates` or `connector-sync-jobs ...`."""

import json
import sys

import click
from flask import Flask, current_app


@click.command("install-templates")
def install_templates_command():
    """Install the index templates (newer versions replace older ones) and create the indices."""
    storage = current_app.extensions["connector_storage"]
    outcome = storage.install_index_templates()
    created = storage.create_indices()
    click.echo(json.dumps({"templates": outcome, "created_indices": created}, indent=2))


def register(app: Flask) -> None:
    app.cli.add_command(install_templates_command)


def main() -> None:
    """`connector-sync-jobs <command>`: the same commands without naming the app."""
    from flask.cli import FlaskGroup

    from app import create_app

    group = FlaskGroup(create_app=lambda: create_app({"INSTALL_TEMPLATES_ON_START": False}))
    sys.exit(group.main())

"""Alembic environment of the alert-state store: runs on the connection the store hands over
(``config.attributes["connection"]``); never reads a URL from a file."""

from __future__ import annotations

from alembic import context

from cocm_rules.store._tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

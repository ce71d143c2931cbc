"""``cocm-rules serve``: the CDS Hooks service (needs the ``service`` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._app import app


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Service configuration (YAML): trusted clients, rulesets ...")
    ] = None,
    insecure_dev: Annotated[
        bool,
        typer.Option("--insecure-dev", help="Accept requests without verifying the client's JWT (local trials only)."),
    ] = False,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, help="Worker processes (one per core uses every core).")
    ] = 1,
) -> None:
    """Run the CDS Hooks 2.0 service (patient-view) until interrupted. See docs/cds-hooks.md.

    --workers N runs N worker processes behind the one port; they share the replay cache.

    Example: cocm-rules serve --config cds.yaml --port 8080 --workers 2
    """
    from ..cdshooks import serve as run  # raises BackendUnavailable with the install hint

    run(host, port, config, insecure_dev, workers=workers)

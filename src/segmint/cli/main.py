"""The ``segmint`` command line: serve, worker, generate, ingest, jobs, pql."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from segmint import pql
from segmint.settings import Settings

app = typer.Typer(
    help="Segmint: audience segmentation that speaks AEP's Segmentation API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
jobs_app = typer.Typer(help="Run and inspect segment jobs.", no_args_is_help=True)
pql_app = typer.Typer(help="Parse and check PQL expressions.", no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
schema_app = typer.Typer(
    help="Tenant field groups of a sandbox's XDM schema.", no_args_is_help=True
)
app.add_typer(pql_app, name="pql")
app.add_typer(schema_app, name="schema")

console = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    return Settings.from_env()


def _finish(command: Callable[[], int]) -> None:
    """Run a store-backed command and exit with its code; its errors print in red."""
    from segmint.cli.context import CommandError

    try:
        code = command()
    except CommandError as error:
        err.print(f"[red]{error}[/]", highlight=False)
        raise typer.Exit(error.exit_code) from error
    raise typer.Exit(code)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (SEGMINT_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (SEGMINT_PORT).")] = None,
) -> None:
    """Start the HTTP API with in-process workers; loads sample data into an empty home."""
    import uvicorn

    from segmint.api.app import create_app

    settings = _settings()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    bind_host, bind_port = host or settings.host, port or settings.port
    console.print(f"[bold]Segmint[/] on http://{bind_host}:{bind_port}  home={settings.home}")
    console.print(f"  client_id={settings.client_id}  client_secret={settings.client_secret}")
    console.print(f"  org_id={settings.org_id}  sandboxes={','.join(settings.sandboxes)}")
    console.print(
        f"  token: POST http://{bind_host}:{bind_port}/ims/token/v3 (grant_type=client_credentials)"
    )
    uvicorn.run(create_app(settings), host=bind_host, port=bind_port, log_level="info")


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="Run at most one job, then exit.")] = False,
) -> None:
    """Run a standalone worker (several may run at once, also on other machines)."""
    from segmint.api.app import make_worker, open_store

    settings = _settings()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    store = open_store(settings)
    job_worker = make_worker(store, settings)
    try:
        if once:
            job_worker.run_once()
        else:
            job_worker.run_forever()
    except KeyboardInterrupt:
        job_worker.stop()
    finally:
        store.close()


@app.command()
def generate(
    out: Annotated[Path, typer.Option(help="Output directory.")],
    profiles: Annotated[
        int | None, typer.Option(min=1, help="Number of profiles (default 10000).")
    ] = None,
    people: Annotated[
        int | None,
        typer.Option(min=1, help="Number of people, as CRM, loyalty, web and email datasets."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    events_per_profile: Annotated[float, typer.Option(min=0.0)] = 10.0,
    chunk_size: Annotated[int, typer.Option(min=1_000)] = 100_000,
) -> None:
    """Write synthetic XDM profiles and experience events as Parquet (bounded memory).

    With --people: CRM and loyalty profiles, web and email events of people made of several
    fragments, a manifest of the datasets and batches, and the truth of whose identities
    are whose."""
    if people is not None:
        if profiles is not None:
            raise typer.BadParameter("give --profiles or --people, not both")
        _generate_people(out, people, seed, chunk_size)
        return
    from segmint.profiles.generate import generate as run_generate

    profiles = 10_000 if profiles is None else profiles
    with _progress() as progress:
        task = progress.add_task("generating profiles", total=profiles)
        result = run_generate(
            out,
            profiles=profiles,
            seed=seed,
            events_per_profile=events_per_profile,
            now=datetime.now(UTC).replace(tzinfo=None),
            chunk_size=chunk_size,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    console.print(f"{result.profile_count} profiles, {result.event_count} events → {out}")


def _generate_people(out: Path, people: int, seed: int, chunk_size: int) -> None:
    """People as several datasets of fragments, with a manifest and the identity truth."""
    from segmint.profiles.people import generate_people

    with _progress() as progress:
        task = progress.add_task("generating people", total=people)
        result = generate_people(
            out,
            people=people,
            seed=seed,
            now=datetime.now(UTC).replace(tzinfo=None),
            chunk_size=chunk_size,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    counts = ", ".join(f"{name} {count}" for name, count in result.records.items())
    console.print(f"{result.people} people: {counts} → {out}", highlight=False)


@app.command()
def ingest(
    files: Annotated[list[Path], typer.Argument(help="XDM JSON, NDJSON or Parquet files.")],
    dataset: Annotated[str, typer.Option(help="Dataset name (created if new).")],
    kind: Annotated[str, typer.Option(help="profile or event")] = "profile",
    sandbox: Annotated[str, typer.Option()] = "prod",
    identity: Annotated[
        list[str] | None,
        typer.Option(help="PATH=NAMESPACE: a field holding an identity (new datasets)."),
    ] = None,
    primary_identity: Annotated[
        str | None,
        typer.Option(help="PATH=NAMESPACE: the field holding the primary identity."),
    ] = None,
) -> None:
    """Load files into a dataset as one batch (committed atomically; bad records listed)."""
    from segmint.cli.ingest import ingest_files

    _finish(
        lambda: ingest_files(
            _settings(), files, dataset, kind, sandbox, console, identity or (), primary_identity
        )
    )


@jobs_app.command("run")
def jobs_run(
    segment_ids: Annotated[list[str] | None, typer.Argument(help="Segment definition ids.")] = None,
    all_segments: Annotated[bool, typer.Option("--all", help="Every definition.")] = False,
    sandbox: Annotated[str, typer.Option()] = "prod",
    detach: Annotated[bool, typer.Option(help="Create the job and return.")] = False,
) -> None:
    """Create a segment job and run it here, showing progress until it ends."""
    from segmint.cli.jobs import run_job

    _finish(lambda: run_job(_settings(), segment_ids or [], all_segments, sandbox, detach, console))


@jobs_app.command("list")
def jobs_list(
    sandbox: Annotated[str, typer.Option()] = "prod",
    status: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1)] = 20,
) -> None:
    """List segment jobs, newest first."""
    from segmint.cli.jobs import list_jobs

    _finish(lambda: list_jobs(_settings(), sandbox, status, limit, console))


@jobs_app.command("get")
def jobs_get(job_id: str, sandbox: Annotated[str, typer.Option()] = "prod") -> None:
    """Print one segment job as the API returns it."""
    from segmint.cli.jobs import get_job

    _finish(lambda: get_job(_settings(), sandbox, job_id, console))


@jobs_app.command("cancel")
def jobs_cancel(job_id: str, sandbox: Annotated[str, typer.Option()] = "prod") -> None:
    """Cancel a NEW, QUEUED or PROCESSING job."""
    from segmint.cli.jobs import cancel

    _finish(lambda: cancel(_settings(), sandbox, job_id, console))


@schema_app.command("register")
def schema_register(
    file: Annotated[Path, typer.Argument(help='JSON such as {"_acme": {"score": "integer"}}.')],
    kind: Annotated[str, typer.Option(help="profile or event")] = "profile",
    sandbox: Annotated[str, typer.Option()] = "prod",
) -> None:
    """Add or replace ``_<tenant>`` field groups of the profile or event class."""
    from segmint.cli.schemas import register

    _finish(lambda: register(_settings(), file, kind, sandbox, console))


@schema_app.command("show")
def schema_show(sandbox: Annotated[str, typer.Option()] = "prod") -> None:
    """Print the tenant field groups registered in a sandbox."""
    from segmint.cli.schemas import show

    _finish(lambda: show(_settings(), sandbox, console))


def _expression(text: str | None) -> str:
    if text is not None and text != "-":
        return text
    return sys.stdin.read()


@pql_app.command("parse")
def pql_parse(expression: Annotated[str | None, typer.Argument()] = None) -> None:
    """Parse an expression (argument or stdin) and print its syntax tree."""
    text = _expression(expression)
    try:
        console.print(repr(pql.parse(text)), markup=False, highlight=False)
    except pql.PQLError as error:
        _print_pql_error(error)
        raise typer.Exit(1) from error


@pql_app.command("check")
def pql_check(expression: Annotated[str | None, typer.Argument()] = None) -> None:
    """Parse and type-check an expression against the standard XDM profile schema."""
    from segmint.engine import check_supported
    from segmint.xdm import DEFAULT_SCHEMA

    text = _expression(expression)
    try:
        checked = pql.check(pql.parse(text), DEFAULT_SCHEMA, source=text)
        check_supported(checked)
    except pql.PQLError as error:
        _print_pql_error(error)
        raise typer.Exit(1) from error
    console.print(f"ok: {checked.type}")


@pql_app.command("format")
def pql_format(expression: Annotated[str | None, typer.Argument()] = None) -> None:
    """Print an expression (argument or stdin) in canonical pql/text."""
    text = _expression(expression)
    try:
        console.print(pql.format(pql.parse(text)), markup=False, highlight=False)
    except pql.PQLError as error:
        _print_pql_error(error)
        raise typer.Exit(1) from error


@pql_app.command("eval")
def pql_eval(
    expression: Annotated[str | None, typer.Argument()] = None,
    profile: Annotated[Path | None, typer.Option(help="XDM profile (JSON object).")] = None,
    events: Annotated[Path | None, typer.Option(help="Experience events (JSON array).")] = None,
    now: Annotated[str | None, typer.Option(help="Evaluation time, ISO-8601 (UTC).")] = None,
) -> None:
    """Evaluate an expression on one profile and its events with the reference interpreter."""
    from segmint.cli.evaluation import evaluate_files

    text = _expression(expression)
    try:
        result = evaluate_files(text, profile, events, now)
    except pql.PQLError as error:
        _print_pql_error(error)
        raise typer.Exit(1) from error
    except ValueError as error:
        err.print(f"[red]{error}[/]", highlight=False)
        raise typer.Exit(2) from error
    console.print("true" if result else "false")


def _print_pql_error(error: pql.PQLError) -> None:
    err.print(f"[red]{type(error).__name__}[/]: {error}", highlight=False)
    err.print(error.highlight(), markup=False, highlight=False)


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    )


def job_table(jobs: list[dict[str, Any]]) -> Table:
    table = Table("id", "status", "source", "segments", "profiles", "created")
    for job in jobs:
        created = datetime.fromtimestamp(job["creationTime"] / 1000, UTC).isoformat(
            timespec="seconds"
        )
        segments = ",".join(s["segmentId"][:8] for s in job["segments"])
        table.add_row(
            job["id"],
            job["status"],
            job["source"],
            segments,
            str(job["metrics"].get("totalProfiles", "")),
            created,
        )
    return table


def dump(document: dict[str, Any]) -> None:
    console.print_json(json.dumps(document))

"""The `omnistream` command line."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from omnistream import __version__
from omnistream.agents.schemas import AgentCreate
from omnistream.config import ConfigError, Settings, load_settings
from omnistream.db.embedded import EmbeddedError, EmbeddedPostgres
from omnistream.db.migrate import MigrationError
from omnistream.kit.errors import AppError
from omnistream.kit.logging import setup_logging

if TYPE_CHECKING:
    from omnistream.agents.first_admin import FirstAdminPassword

cli = typer.Typer(
    help="OmniStream: omnichannel customer service.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)


def _settings() -> Settings:
    try:
        settings = load_settings()
    except ConfigError as exc:
        err.print(f"[bold red]configuration error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    setup_logging(settings.log_level, settings.log_format)
    try:  # one clear line now rather than a traceback from the first upload or key use
        settings.media_dir.mkdir(parents=True, exist_ok=True)
        _ = settings.signing_key
    except OSError as exc:
        err.print(
            f"[bold red]configuration error:[/] OMNISTREAM_DATA_DIR: cannot use "
            f"{settings.data_dir}: {exc.strerror or exc}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2) from None
    return settings


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The DSN to use: DATABASE_URL, else an embedded PostgreSQL in the data directory."""
    if settings.database_url:
        yield settings.database_url
        return
    server = EmbeddedPostgres(settings.data_dir)
    try:
        dsn = server.start()
    except EmbeddedError as exc:
        err.print(f"[bold red]embedded PostgreSQL:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    try:
        yield dsn
    finally:
        server.stop()


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[bold red]{type(exc).__name__}:[/] {exc}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


async def _prepare(
    settings: Settings, dsn: str, issuer: bool | None
) -> tuple[list[str], FirstAdminPassword | None]:
    """Migrates; with `issuer` (this process holds the first admin's issuer lock) makes or
    renews the first admin's password; with issuer=False only says if another process
    shows it; with None leaves the first admin alone."""
    from omnistream.agents.first_admin import awaits_sign_in, ensure_first_admin
    from omnistream.auth.passwords import Passwords
    from omnistream.db.migrate import migrate
    from omnistream.db.pool import create_pool, transaction

    pool = await create_pool(dsn, 1, 2)
    try:
        async with pool.acquire() as conn:
            applied = await migrate(conn)
            if issuer is False and await awaits_sign_in(conn):
                out.print(
                    "[bold green]First start:[/] the admin's password is shown by another "
                    "OmniStream process that is still running",
                    highlight=False,
                )
        issued = None
        if issuer:
            passwords = Passwords(
                settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
            )
            async with transaction(pool) as tx:
                issued = await ensure_first_admin(tx, passwords, settings.admin_email)
        return applied, issued
    finally:
        await pool.close()


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default OMNISTREAM_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default OMNISTREAM_PORT)")] = None,
    with_worker: Annotated[
        bool, typer.Option(help="Run the background loops in this process")
    ] = False,
    demo: Annotated[
        bool,
        typer.Option(
            help="Also run the local Graph API sandbox with demo integrations, and a demo "
            "mailbox when Dovecot is installed (make run)"
        ),
    ] = False,
    sandbox_port: Annotated[
        int | None, typer.Option(help="The demo sandbox's port (default OMNISTREAM_SANDBOX_PORT)")
    ] = None,
) -> None:
    """Start the HTTP API (and, with --with-worker, the background loops)."""
    import uvicorn

    from omnistream import first_start
    from omnistream.app import create_app
    from omnistream.shutdown import GracefulServer

    settings = _settings()
    bind_host, bind_port = host or settings.host, port or settings.port
    sandbox_port = sandbox_port or settings.sandbox_port
    if demo and sandbox_port == bind_port:
        err.print(
            f"[bold red]configuration error:[/] OMNISTREAM_SANDBOX_PORT: must differ from the "
            f"server's port (both are {bind_port})",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    background = []
    with contextlib.ExitStack() as stack:
        dsn = stack.enter_context(database(settings))
        # Released when this process ends: while it runs, its password on show stays valid.
        issuer = stack.enter_context(first_start.issuer_lock(dsn))
        try:
            _, issued = asyncio.run(_prepare(settings, dsn, issuer=issuer.acquire()))
        except (MigrationError, OSError) as exc:
            raise _fail(exc) from None
        if issued is None:
            issuer.release()  # nothing on show to protect
        if demo:
            from omnistream import demo as demo_mode
            from omnistream.sandbox.mailbox import running_demo_mailbox

            settings = settings.model_copy(update={"allow_private_urls": True})
            webhook = f"http://127.0.0.1:{bind_port}/webhooks/meta"
            sandbox_url = stack.enter_context(demo_mode.sandbox_process(sandbox_port, webhook))
            mailbox = stack.enter_context(running_demo_mailbox())  # None without Dovecot
            meta, mail = asyncio.run(demo_mode.prepare(settings, dsn, sandbox_url, mailbox))
            if meta:
                background.append(lambda: demo_mode.customers_write_in(sandbox_url))
            out.print(
                f"[bold cyan]Demo:[/] Graph API sandbox at {sandbox_url} "
                f"(docs: {sandbox_url}/_sandbox/docs)",
                highlight=False,
                soft_wrap=True,  # a URL broken over two lines cannot be clicked or copied
            )
            if mailbox is not None and mail is not None:
                background.append(mailbox.customers_write_in)
                out.print(
                    f"[bold cyan]Demo:[/] mailbox {mailbox.address} in a local Dovecot "
                    f"(IMAP 127.0.0.1:{mailbox.server.port}); sent mail lands in its user "
                    f"{mailbox.customers.name!r}, password {mailbox.customers.password}",
                    highlight=False,
                    soft_wrap=True,
                )
        app = create_app(settings, dsn, with_worker=with_worker, background=background)
        # uvicorn re-raises the stop signal once it has shut down; with the default handler
        # that kills the process before the embedded PostgreSQL is stopped. A no-op handler
        # lets the `database` context exit cleanly instead.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: None)
        config = uvicorn.Config(
            app,
            host=bind_host,
            port=bind_port,
            log_config=None,
            access_log=False,
            server_header=False,
            lifespan="on",
            # Compressing every event once per socket cost ~20% of the fan-out's CPU.
            ws_per_message_deflate=settings.ws_compression,
        )
        url = first_start.sign_in_url(bind_host, bind_port)
        # The password is shown only once the server listens: a start that fails shows none
        # (the next start issues a new one, see agents/first_admin.py).

        def announce() -> None:
            if issued is not None:
                first_start.show_credentials(out, issued, url)

        server = GracefulServer(config, announce, app, settings.shutdown_grace_seconds)
        server.run()
        if not server.started:
            raise typer.Exit(3)  # uvicorn has logged why (e.g. the port is in use)


@cli.command()
def worker() -> None:
    """Run every background loop (any number of workers may run side by side)."""
    from omnistream.db.migrate import migrate
    from omnistream.db.pool import create_pool
    from omnistream.metrics.listener import process_metrics
    from omnistream.worker import pool_size, run_loops

    settings = _settings()

    async def main(dsn: str) -> None:
        pool = await create_pool(dsn, settings.db_pool_min, pool_size(settings))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            async with pool.acquire() as conn:
                await migrate(conn)
            async with process_metrics(settings, pool):  # docs/metrics.md
                await run_loops(pool, settings, stop, dsn)
        finally:
            await pool.close()

    with database(settings) as dsn:
        try:
            _run_loop(main(dsn))
        except MigrationError as exc:
            raise _fail(exc) from None


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """uvloop where it is installed, as uvicorn does for the API: the worker's loops are
    mostly socket reads and writes, and uvloop spends about a third less CPU on them."""
    try:
        import uvloop
    except ImportError:  # e.g. Windows
        asyncio.run(main)
        return
    uvloop.run(main)


@cli.command("migrate")
def migrate_cmd() -> None:
    """Apply pending migrations and exit."""
    settings = _settings()
    with database(settings) as dsn:
        try:
            applied, _ = asyncio.run(_prepare(settings, dsn, issuer=None))
        except MigrationError as exc:
            raise _fail(exc) from None
    if applied:
        for name in applied:
            out.print(f"[green]applied[/] {name}")
    else:
        out.print("the database is already at the latest migration")


@cli.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(prompt=True)],
    name: Annotated[str, typer.Option(prompt=True)] = "Administrator",
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="OMNISTREAM_NEW_ADMIN_PASSWORD",
        ),
    ] = "",
) -> None:
    """Create an admin account."""
    from pydantic import ValidationError

    from omnistream.kit.enums import Role

    try:
        data = AgentCreate(email=email, name=name, role=Role.ADMIN, password=password)
    except ValidationError as exc:
        first = exc.errors()[0]
        err.print(f"[bold red]{first['loc'][0]}:[/] {first['msg']}", highlight=False)
        raise typer.Exit(2) from None
    settings = _settings()
    with database(settings) as dsn:
        try:
            agent_id = asyncio.run(_create_admin(settings, dsn, data))
        except AppError as exc:
            err.print(f"[bold red]error:[/] {exc.detail}", highlight=False)
            raise typer.Exit(1) from None
        except (MigrationError, OSError) as exc:
            raise _fail(exc) from None
    out.print(f"[green]created admin[/] {data.email} ({agent_id})", highlight=False)


async def _create_admin(settings: Settings, dsn: str, data: AgentCreate) -> str:
    from omnistream.agents.service import create
    from omnistream.auth.passwords import Passwords
    from omnistream.db.migrate import migrate
    from omnistream.db.pool import create_pool, transaction

    pool = await create_pool(dsn, 1, 2)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        passwords = Passwords(
            settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
        )
        async with transaction(pool) as tx:
            row = await create(tx, passwords, None, data)
        return str(row["id"])
    finally:
        await pool.close()


@cli.command(
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def sandbox(ctx: typer.Context) -> None:
    """The local Meta Graph API sandbox (`omnistream sandbox --help`)."""
    from omnistream.sandbox.cli import run

    run(ctx.args)


@cli.command()
def version() -> None:
    """Print the version."""
    out.print(f"omnistream {__version__}")


reports_cli = typer.Typer(help="Reports: rollups and facts.", no_args_is_help=True)
cli.add_typer(reports_cli, name="reports")


@reports_cli.command("rebuild")
def reports_rebuild(
    since: Annotated[
        str | None,
        typer.Option(help="Only conversations changed at or after this date (YYYY-MM-DD, UTC)"),
    ] = None,
) -> None:
    """Recompute the reports' facts and rollups from the raw rows (one transaction)."""
    from omnistream.reports.rebuild import parse_since

    try:
        start = parse_since(since) if since else None
    except ValueError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    settings = _settings()
    with database(settings) as dsn:
        try:
            done = asyncio.run(_rebuild_reports(dsn, start))
        except (MigrationError, OSError) as exc:
            raise _fail(exc) from None
    out.print(f"[green]rebuilt[/] the reports of {done:,} conversations")


async def _rebuild_reports(dsn: str, since: Any) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from omnistream.db.migrate import migrate
    from omnistream.db.pool import create_pool
    from omnistream.reports.rebuild import rebuild

    pool = await create_pool(dsn, 1, 2)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress("conversations", *columns, console=err, transient=False) as bar:
            task = bar.add_task("rebuild", total=None)
            return await rebuild(
                pool, since, lambda done, total: bar.update(task, completed=done, total=total)
            )
    finally:
        await pool.close()


@cli.command("rbac-doc")
def rbac_doc() -> None:
    """Print the permission matrix and route table of docs/rbac.md."""
    from omnistream.app import create_app
    from omnistream.auth.rbac_doc import render_matrix

    settings = load_settings()
    print(render_matrix(create_app(settings, "postgresql://unused")), end="")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()

"""`omnistream sandbox`: serve the sandbox (the default), or play a customer against one."""

from __future__ import annotations

import asyncio
import base64
import mimetypes
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

app = typer.Typer(
    help="The local Meta Graph API sandbox. Without a subcommand: serve it.",
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

Host = Annotated[str, typer.Option(help="Bind address")]
Port = Annotated[int, typer.Option(help="Port")]
WebhookUrl = Annotated[
    str | None, typer.Option(help="Default webhook URL (OmniStream's POST /webhooks/meta)")
]
ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="JSON or TOML file of SandboxConfig", exists=True)
]
Demo = Annotated[bool, typer.Option(help="Add one demo account per channel (see docs)")]
Instant = Annotated[bool, typer.Option(help="Benchmark mode: no faults, limits or statuses")]
PublicUrl = Annotated[str | None, typer.Option(help="Base URL in media links and paging")]


def run(args: list[str]) -> None:
    """Entry point from `omnistream sandbox ...` (the main CLI passes its arguments on)."""
    app(args=args, prog_name="omnistream sandbox")


def _serve(
    host: str,
    port: int,
    webhook_url: str | None,
    config_file: Path | None,
    demo: bool,
    instant: bool,
    public_url: str | None,
) -> None:
    import uvicorn
    from pydantic import ValidationError

    from omnistream.kit.logging import setup_logging
    from omnistream.sandbox import create_sandbox
    from omnistream.sandbox.config import SandboxConfig, demo_accounts, load_config

    try:
        config = load_config(config_file) if config_file else SandboxConfig()
    except (ValidationError, ValueError, OSError) as exc:
        err.print(f"[bold red]sandbox config:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    update: dict[str, Any] = {}
    if webhook_url:
        update["webhook_url"] = webhook_url
    if public_url:
        update["public_url"] = public_url
    if instant:
        update["instant"] = True
    if demo:
        known = {a.external_id for a in config.accounts}
        extra = [a for a in demo_accounts() if a.external_id not in known]
        update["accounts"] = [*config.accounts, *extra]
    config = config.model_copy(update=update)
    setup_logging("INFO", "console")
    out.print(f"[bold green]Meta Graph API sandbox[/] on http://{host}:{port}", highlight=False)
    out.print(f"  control API docs: http://{host}:{port}/_sandbox/docs", highlight=False)
    for a in config.accounts:
        out.print(
            f"  {a.channel:<9} {a.external_id}  token={a.access_token}  "
            f"webhook={a.webhook_url or config.webhook_url or '-'}",
            highlight=False,
        )
    uvicorn.run(
        create_sandbox(config),
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
    )


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    host: Host = "127.0.0.1",
    port: Port = 8787,
    webhook_url: WebhookUrl = None,
    config: ConfigFile = None,
    demo: Demo = False,
    instant: Instant = False,
    public_url: PublicUrl = None,
) -> None:
    """The local Meta Graph API sandbox. Without a subcommand: serve it."""
    if ctx.invoked_subcommand is None:
        _serve(host, port, webhook_url, config, demo, instant, public_url)


@app.command()
def serve(
    host: Host = "127.0.0.1",
    port: Port = 8787,
    webhook_url: WebhookUrl = None,
    config: ConfigFile = None,
    demo: Demo = False,
    instant: Instant = False,
    public_url: PublicUrl = None,
) -> None:
    """Serve the sandbox."""
    _serve(host, port, webhook_url, config, demo, instant, public_url)


def customer(
    account: Annotated[str, typer.Option(help="The account's external_id")],
    sender: Annotated[str, typer.Option("--from", help="wa_id / PSID / IGSID")],
    sandbox_url: Annotated[str, typer.Option(help="The sandbox")] = "http://127.0.0.1:8787",
    channel: Annotated[str | None, typer.Option(help="whatsapp, messenger or instagram")] = None,
    name: Annotated[str | None, typer.Option(help="Profile name")] = None,
    type_: Annotated[str, typer.Option("--type", help="text, image, reaction, ...")] = "text",
    text: Annotated[str | None, typer.Option(help="Text body")] = None,
    caption: Annotated[str | None, typer.Option(help="Media caption")] = None,
    file: Annotated[Path | None, typer.Option(help="Media file (default: a sample)")] = None,
    reply_to: Annotated[str | None, typer.Option(help="Message id to quote")] = None,
    target: Annotated[str | None, typer.Option(help="Reaction: message id")] = None,
    emoji: Annotated[str | None, typer.Option(help="Reaction emoji")] = None,
    reply_id: Annotated[str | None, typer.Option(help="Interactive reply id")] = None,
    reply_title: Annotated[str | None, typer.Option(help="Interactive reply title")] = None,
    interactive_type: Annotated[str | None, typer.Option(help="button_reply, ...")] = None,
    payload: Annotated[str | None, typer.Option(help="Button / postback payload")] = None,
    deliveries: Annotated[int, typer.Option(help="Deliver the webhook N times")] = 1,
) -> None:
    """Send a message as a customer: the sandbox delivers Meta's signed webhook."""
    import httpx

    from omnistream.sandbox.client import SandboxClient, SandboxError

    fields: dict[str, Any] = {"deliveries": deliveries}
    if type_ == "text" and text is None:
        err.print("[bold red]--text is required for a text message[/]")
        raise typer.Exit(2)
    optional = {
        "channel": channel,
        "name": name,
        "text": text,
        "caption": caption,
        "reply_to": reply_to,
        "target": target,
        "emoji": emoji,
        "reply_id": reply_id,
        "reply_title": reply_title,
        "interactive_type": interactive_type,
        "payload": payload,
    }
    fields.update({k: v for k, v in optional.items() if v is not None})
    if file is not None:
        fields["media_base64"] = base64.b64encode(file.read_bytes()).decode()
        fields["filename"] = file.name
        guessed = mimetypes.guess_type(file.name)[0]
        if guessed:
            fields["mime_type"] = guessed

    async def go() -> dict[str, Any]:
        client = SandboxClient(sandbox_url)
        try:
            return await client.send_customer(account, sender, type_, **fields)
        finally:
            await client.aclose()

    try:
        result = asyncio.run(go())
    except SandboxError as exc:
        err.print(f"[bold red]sandbox refused:[/] {exc.status_code} {exc.body}", highlight=False)
        raise typer.Exit(1) from None
    except (OSError, httpx.HTTPError) as exc:
        err.print(f"[bold red]cannot reach {sandbox_url}:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    out.print(f"message id: {result['message_id']}", highlight=False, soft_wrap=True)
    for delivery in result.get("deliveries", []):
        if delivery.get("error"):
            out.print(f"webhook not sent: {delivery['error']}", highlight=False)
            continue
        statuses = [a.get("status") or a.get("error") for a in delivery["attempts"]]
        out.print(f"webhook -> {delivery['url']}: {statuses}", highlight=False, soft_wrap=True)
    if not result.get("delivered"):
        err.print("[bold yellow]the webhook was not delivered[/]")
        raise typer.Exit(1)


app.command("customer")(customer)
app.command("send", hidden=True)(customer)

"""Server and setup commands: serve (and serve --stop), doctor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from focuscli.cli.common import _inv, app
from focuscli.errors import FocusError, UsageError


@app.command()
def doctor(ctx: typer.Context) -> None:
    """Check the setup: backend, round trip, server clock offset, identity and rules in force.

    Example: focus doctor
    """
    from focuscli import doctor as checks

    for line in checks.report(_inv(ctx)):
        typer.echo(line)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on. Non-loopback needs the admin secret.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.", min=0, max=65535)] = 9000,
    rules: Annotated[
        Path | None, typer.Option(help="Security rules file loaded into every namespace at start.")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Directory for durable data (default: $XDG_DATA_HOME/focus/database).", show_default=False),
    ] = None,
    memory: Annotated[bool, typer.Option("--memory", help="Keep nothing on disk.")] = False,
    admin_secret_file: Annotated[
        Path | None,
        typer.Option(help="Admin secret file used when bound to a non-loopback address (created if missing)."),
    ] = None,
    strict_indexes: Annotated[
        bool, typer.Option("--strict-indexes", help="Refuse queries without a matching .indexOn, as production does.")
    ] = False,
    keepalive: Annotated[
        float, typer.Option(help="Seconds of stream idleness before a keep-alive event.", min=0.05)
    ] = 30.0,
    stop: Annotated[
        bool, typer.Option("--stop", help="Stop the background server that focus started, and exit.")
    ] = False,
) -> None:
    """Run a local Realtime Database server that speaks the Firebase emulator's protocol.

    The Firebase SDKs (JavaScript over its WebSocket, firebase-admin), the Firebase CLI's tools
    and curl use it like the official emulator.
    Stops cleanly on Ctrl-C or SIGTERM.

    Example: focus serve --port 0 --memory --rules firebase/database.rules.json
    """
    if stop:
        from focuscli import embedded

        typer.echo(embedded.stop(_inv(ctx).settings))
        return
    from focuscli.rules import compile_rules
    from focuscli.rules.document import RulesDocument, RulesError
    from focuscli.server import ServerConfig, ServerStartError, run

    if memory and data_dir is not None:
        raise UsageError("--data-dir and --memory exclude each other; pick one.")
    source = None
    if rules is not None:
        try:
            source = rules.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise UsageError(f"--rules: cannot read {rules}: {_reason(err)}") from None
        try:
            compile_rules(RulesDocument.parse(source))
        except RulesError as err:
            raise UsageError(f"{rules}:{err}", detail=_caret(source, err.line, err.column)) from None
    directory = None if memory else (data_dir or _inv(ctx).settings.data_dir / "database")
    config = ServerConfig(
        host=host,
        port=port,
        data_dir=directory,
        rules_source=source,
        keepalive=keepalive,
        admin_secret_file=admin_secret_file,
        enforce_indexes=strict_indexes,
    )

    def ready(url: str, secret: Path | None) -> None:
        hostport = url.removeprefix("http://")
        where = "in memory" if directory is None else f"data in {directory}"
        typer.echo(f"focus serve: listening on {url} ({where}); FIREBASE_DATABASE_EMULATOR_HOST={hostport}")
        if secret is not None:
            typer.echo(
                f"focus serve: admin secret in {secret} (non-loopback address: 'owner' is not accepted)",
                err=True,
            )

    try:
        run(config, ready)
    except ServerStartError as err:
        raise FocusError(str(err)) from None


def _reason(err: BaseException) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror.lower()
    return str(err)


def _caret(source: str, line: int, column: int) -> str:
    lines = source.splitlines() or [""]
    text = lines[min(max(line, 1), len(lines)) - 1]
    return f"  {text}\n  {' ' * max(column - 1, 0)}^"

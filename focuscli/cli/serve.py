"""Server and setup commands: serve (and serve --stop), doctor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from focuscli import inert
from focuscli.cli.common import _inv, app
from focuscli.errors import BadArgument, FocusError, UsageError


@app.command()
def doctor(ctx: typer.Context) -> None:
    """Check the setup: backend, round trip, server clock offset, identity and rules in force.

    Example: focus doctor
    """
    from focuscli import doctor as checks

    for line in checks.report(_inv(ctx)):
        typer.echo(inert.text(line))  # it quotes the name and the database's own messages


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on. Any non-loopback address means --secure.")] = "127.0.0.1",
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
        typer.Option(help="Admin secret file of secure mode (created, mode 0600, if missing; default: in the data directory)."),
    ] = None,
    strict_indexes: Annotated[
        bool, typer.Option("--strict-indexes", help="Refuse queries without a matching .indexOn, as production does.")
    ] = False,
    keepalive: Annotated[
        float, typer.Option(help="Seconds of stream idleness before a keep-alive event.", min=0.05)
    ] = 30.0,
    request_timeout: Annotated[
        float,
        typer.Option(
            help="Seconds a client gets to send a request's headers, and its body (plus 1 s per 64 KiB).",
            min=0.1,
        ),
    ] = 60.0,
    secure: Annotated[
        bool,
        typer.Option("--secure", help="Signed ID tokens only; only the admin secret is admin (always on off loopback)."),
    ] = False,
    project: Annotated[
        str, typer.Option(help="Project id of the Auth emulator: ID tokens' audience and issuer.")
    ] = "demo-focus",
    allow_host: Annotated[
        list[str] | None,
        typer.Option("--allow-host", help="Another Host name this server answers to (repeatable).", show_default=False),
    ] = None,
    allow_origin: Annotated[
        list[str] | None,
        typer.Option("--allow-origin", help="A web origin (https://app.example) a secure server answers (repeatable).", show_default=False),
    ] = None,
    token_lifetime: Annotated[
        int, typer.Option("--token-lifetime", help="ID token lifetime in seconds (for testing expiry).", min=1, max=3600)
    ] = 3600,
    stop: Annotated[
        bool, typer.Option("--stop", help="Stop the background server that focus started, and exit.")
    ] = False,
) -> None:
    """Run a local Realtime Database server and Firebase Auth emulator on one port.

    The Firebase SDKs (JavaScript over its WebSocket, firebase-admin), the Firebase CLI's tools
    and curl use it like the official emulators (emulator mode, on loopback). --secure (always on
    a non-loopback address) signs ID tokens, checks them on every request, stream and socket, and
    makes only the admin secret admin.
    Stops cleanly on Ctrl-C or SIGTERM.

    Example: focus serve --port 0 --memory --rules firebase/database.rules.json

    Example: focus serve --secure --host 0.0.0.0 --allow-host focus.example.lan
    """
    if stop:
        from focuscli import embedded

        typer.echo(embedded.stop(_inv(ctx).settings))
        return
    from focuscli.rules import compile_rules
    from focuscli.rules.document import RulesDocument, RulesError
    from focuscli.server import ServerConfig, ServerStartError, run
    from focuscli.server.authemu.routes import PROJECT_ID
    from focuscli.server.limits import Limits
    from focuscli.server.origins import normalize_origin

    if memory and data_dir is not None:
        raise BadArgument("--data-dir and --memory exclude each other; pick one.")
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
    for origin in allow_origin or ():
        if normalize_origin(origin) is None:
            raise UsageError(f"--allow-origin {origin!r}: give scheme://host[:port], e.g. https://app.example.com")
    if not PROJECT_ID.fullmatch(project):
        raise UsageError(f"--project {project!r}: use letters, digits, '-' and '_' (e.g. demo-focus)")
    directory = None if memory else (data_dir or _inv(ctx).settings.data_dir / "database")
    config = ServerConfig(
        host=host,
        port=port,
        data_dir=directory,
        rules_source=source,
        keepalive=keepalive,
        admin_secret_file=admin_secret_file,
        enforce_indexes=strict_indexes,
        limits=Limits(request_timeout=request_timeout),
        secure=secure,
        project_id=project,
        token_lifetime=token_lifetime,
        allow_hosts=tuple(allow_host or ()),
        allow_origins=tuple(allow_origin or ()),
    )

    def ready(url: str, secret: Path | None) -> None:
        hostport = url.removeprefix("http://")
        where = "in memory" if directory is None else f"data in {directory}"
        if config.is_secure:
            held = f"admin secret in {secret}" if secret is not None else "admin token given"
            mode = f"secure mode: signed ID tokens only, {held}; {where}"
            hosts = ""  # firebase-admin's emulator mode sends `Bearer owner`: refused here
        else:
            mode = f"emulator mode; {where}"
            hosts = f"FIREBASE_AUTH_EMULATOR_HOST={hostport}; "
        typer.echo(f"focus serve: listening on {url} ({mode}); {hosts}FIREBASE_DATABASE_EMULATOR_HOST={hostport}")

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

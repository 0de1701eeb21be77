"""Sign-in commands: login, logout, whoami."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer

from focuscli import inert
from focuscli.cli.common import JsonOpt, _inv, app
from focuscli.errors import UsageError


@app.command()
def login(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="Your account's email address.")],
    create: Annotated[bool, typer.Option("--create", help="Create the account (needs --name).")] = False,
    name: Annotated[
        str | None, typer.Option(help="The name your teammates see (sets it on an existing account).", show_default=False)
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin (for scripts and CI).")
    ] = False,
) -> None:
    """Sign this profile in (email and password); the sign-in is kept for later commands.

    The password is read from the terminal without echo, or with --password-stdin from the first
    line of stdin; never from the command line. Each profile (--user) has its own sign-in on
    each backend.

    Example: focus login ana@example.com --create --name ana
    """
    from focuscli.account import check_name

    inv = _inv(ctx)
    if "@" not in email.strip("@"):
        raise UsageError(f"invalid email {email!r}: use an address like ana@example.com")
    shown = check_name(name) if name is not None else None
    if create and shown is None:
        raise UsageError("--create needs --name NAME (the name your teammates see)")
    password = _password(email, confirm=create and not password_stdin, from_stdin=password_stdin)
    account = inv.account
    signin = account.signin
    if create:
        assert shown is not None  # checked above
        tokens = signin.sign_up(email, password, shown)
    else:
        tokens = signin.sign_in(email, password)
    if shown is not None and (tokens.name != shown or not create):
        signin.set_name(tokens.id_token, shown)
    # A token minted before the name was set does not carry it (the rules check `name`).
    tokens = signin.refresh(tokens.refresh_token)
    record = account.save_login(tokens)
    created = "created the account and " if create else ""
    said = (
        f"{created}signed in as {record.get('name') or '(no name)'} <{record.get('email') or email}> "
        f"on {signin.service.display()} (profile {account.profile})"
    )
    typer.echo(inert.text(said))  # the name and email come from the sign-in service
    if not record.get("name"):
        inv.say(f"your account has no display name yet; set one with: focus login {email} --name NAME")


def _password(email: str, *, confirm: bool, from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password.removesuffix("\r")
        if not password:
            raise UsageError("--password-stdin: no password on stdin (one line expected)")
        return password
    import getpass

    if not sys.stdin.isatty():
        raise UsageError("no terminal to read the password from; pass it on stdin with --password-stdin")
    password = getpass.getpass(f"Password for {email}: ")
    if not password:
        raise UsageError("no password given")
    if confirm and getpass.getpass("Repeat the password: ") != password:
        raise UsageError("the two passwords differ; try again")
    return password


@app.command()
def logout(ctx: typer.Context) -> None:
    """Forget this profile's sign-in on the current backend.

    Example: focus logout
    """
    inv = _inv(ctx)
    account = inv.account
    where = account.signin.service.display()
    if account.forget():
        typer.echo(f"signed out profile {account.profile} from {where}")
    else:
        typer.echo(f"profile {account.profile} was not signed in to {where}")


@app.command()
def whoami(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Who this profile is signed in as: uid, email, name, backend, how it is verified, expiry.

    Example: focus whoami --json
    """
    from focuscli.account import token_part

    inv = _inv(ctx)
    account = inv.account
    token = account.id_token()
    header, claims = token_part(token, 0), token_part(token, 1)
    record = account.record
    signed = header.get("alg") not in (None, "none")
    info: dict[str, Any] = {
        "uid": record.get("uid"),
        "email": claims.get("email") or record.get("email"),
        "name": claims.get("name") or record.get("name"),
        "profile": account.profile,
        "backend": {"kind": inv.settings.target.kind, "url": inv.settings.target.display_url()},
        "sign_in_service": account.signin.service.display(),
        "verified": "signed" if signed else "unsigned",
        "algorithm": header.get("alg"),
        "issuer": claims.get("iss"),
        "provider": (claims.get("firebase") or {}).get("sign_in_provider") if isinstance(claims.get("firebase"), dict) else None,
        "expires_at": account.expires_at(),
        "how": record.get("how"),
        "credentials": str(account.store.path),
    }
    info = inert.value(info)  # the name and email come from the sign-in service: inert
    if as_json:
        typer.echo(json.dumps(info))
        return
    email = f" <{info['email']}>" if info["email"] else ""
    typer.echo(f"{info['name'] or '(no name)'}{email} (uid {info['uid']})")
    typer.echo(f"backend: {info['backend']['kind']} at {info['backend']['url']}; sign-in: {info['sign_in_service']}")
    if signed:
        typer.echo(f"verified: ID token signed ({info['algorithm']}) by {info['issuer']}; the database checks the signature")
    else:
        typer.echo("verified: unsigned emulator token; the server trusts it without a signature (emulator mode)")
    left = info["expires_at"] - time.time()
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["expires_at"]))
    typer.echo(f"token expires: {when} (in {max(0, int(left // 60))} min; renewed by itself)")
    made = "made by focus on first use" if info["how"] == "auto" else "focus login"
    typer.echo(f"profile: {account.profile} ({made}; stored in {info['credentials']})")

"""The browser page: `focus web` prints (or opens) a session's page for the current backend."""

from __future__ import annotations

from typing import Annotated

import typer

from focuscli.cli.common import SessionOpt, _inv, app
from focuscli.errors import FocusError


@app.command()
def web(
    ctx: typer.Context,
    session: SessionOpt = None,
    open_it: Annotated[bool, typer.Option("--open", help="Open it in your web browser too.")] = False,
) -> None:
    """Print the address of the session's page in a web browser (the shared timer for
    teammates who are not in a terminal); with --open, open it.

    The embedded default and any focus serve serve the page themselves (the embedded server is
    started if needed); a Firebase project's page is where `firebase deploy --only hosting` put
    it: hosting_url in the config, else https://<project>.web.app. Without a session (none
    chosen), the page that lists yours.

    Example: focus web --session team --open
    """
    from focuscli.webpage import page_url

    inv = _inv(ctx)
    settings = inv.settings
    chosen = settings.session if session is None else session
    name = inv.session_name(chosen) if chosen is not None else None
    if settings.target.kind == "embedded":
        from focuscli import embedded

        settings = embedded.ensure_running(settings, say=inv.say)
    url = page_url(settings, name)
    typer.echo(url)
    if open_it:
        import webbrowser

        if not webbrowser.open(url):
            raise FocusError(f"found no web browser to open {url}; open it by hand")

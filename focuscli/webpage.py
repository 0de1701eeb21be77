"""Where a backend's browser page lives: the address `focus web` prints for a session."""

from __future__ import annotations

from urllib.parse import quote

from focuscli.settings import EMBEDDED_NAMESPACE, Settings


def page_url(settings: Settings, session: str | None) -> str:
    """The page of `session` (or the page listing one's sessions) for the settings' backend.

    A `focus serve` (the embedded default, or any http://host:port?ns=NAME database) serves the
    page itself, at /s/NAME, with ?ns= unless it is the page's default namespace. A Firebase
    project's page is where it was deployed with `firebase deploy --only hosting`: the config's
    `hosting_url`, else the project's default Hosting site, https://<project>.web.app.
    """
    target = settings.target
    path = f"/s/{quote(session, safe='')}" if session else "/"
    if target.kind == "production":
        return (settings.hosting_url or f"https://{settings.project}.web.app") + path
    ns = target.namespace()
    query = f"?ns={quote(ns, safe='')}" if ns and ns != EMBEDDED_NAMESPACE else ""
    return target.display_url() + path + query

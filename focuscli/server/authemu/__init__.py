"""The Firebase Auth emulator as a sans-I/O core: Identity Toolkit, Secure Token and the
emulator-only endpoints, one request value in and one reply (plus changed records) out.

``routes`` (paths, credentials, projects, bodies) calls the operations in ``signin``,
``accounts``, ``oob`` and ``manage``, which work on ``state.ProjectState`` through
``context.Call``; ``tokens`` builds and checks ID tokens, ``errors`` holds every string the
clients compare. Standard library only: signing with real keys lives in
``focuscli.server.signing``, persistence and threads in ``focuscli.server.authservice``.
"""

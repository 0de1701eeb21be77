"""Resolving focus's configuration from flags, environment variables and the config file.

Each setting takes the first value found, in this order:

    database   1. --db URL, FOCUS_DATABASE_URL, config `db_url`:
                  https://...                  a Firebase project (production)
                  http://host:port?ns=NAME     an emulator or a `focus serve` you run yourself
               2. FIREBASE_DATABASE_EMULATOR_HOST set: the emulator, namespace
                  `<project>-default-rtdb` (where `firebase emulators:exec` loads the rules)
               3. otherwise the embedded default: http://127.0.0.1:9000?ns=focus, a `focus serve`
                  started on demand (FOCUS_SERVE_PORT changes the port)
    sign-in    a Firebase project: Google's Identity Toolkit with the project's Web API key
               (FOCUS_API_KEY, config `api_key`; config `auth_url` / FOCUS_AUTH_URL moves the
               endpoints, for a proxy); FIREBASE_AUTH_EMULATOR_HOST set: that Auth emulator;
               otherwise the database's own host and port (a `focus serve` is also the Auth
               emulator)
    admin      a service-account key (--credentials, GOOGLE_APPLICATION_CREDENTIALS, config
               `credentials`): only for administrator tasks (`focus doctor`'s rules check)
    project    FOCUS_PROJECT, config `project`, the production URL's project, "demo-focus"
    user       the local profile: --user, FOCUS_USER, config `user`, your login name; each
               profile has its own sign-in per backend
    session    --session, FOCUS_SESSION, config `session`, the session you last joined, none

The config file is $FOCUS_CONFIG, else $XDG_CONFIG_HOME/focus/config.toml (default
~/.config/focus/config.toml); TOML with the keys db_url, api_key, auth_url, credentials, project, user, session,
cleanup_after (a duration such as "7d", "12h", "90m" or "1d12h"; default 7d), hosting_url (where a
Firebase project's browser page is deployed; default https://<project>.web.app), and for hooks
(focuscli.hooks): hook_timeout (seconds, default 10), bell and notify (booleans, default true)
and a [hooks] table of event name -> shell command. State (the
remembered session, the embedded server's pid) lives in $XDG_STATE_HOME/focus
(~/.local/state/focus), data (the embedded database and its log) in $XDG_DATA_HOME/focus
(~/.local/share/focus).

Nothing here reads os.environ: callers pass the environment in.
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from focuscli.backend import Target
from focuscli.errors import UsageError
from focuscli.signin import PRODUCTION_ROOT, AuthService

ENV_DATABASE_URL = "FOCUS_DATABASE_URL"
ENV_CREDENTIALS = "GOOGLE_APPLICATION_CREDENTIALS"
ENV_EMULATOR_HOST = "FIREBASE_DATABASE_EMULATOR_HOST"
ENV_AUTH_EMULATOR_HOST = "FIREBASE_AUTH_EMULATOR_HOST"
ENV_API_KEY = "FOCUS_API_KEY"
ENV_AUTH_URL = "FOCUS_AUTH_URL"
ENV_ADMIN_SECRET_FILE = "FOCUS_ADMIN_SECRET_FILE"
EMULATOR_API_KEY = "fake-api-key"  # any non-empty key does on emulators (the emulator's own choice)
ENV_PROJECT = "FOCUS_PROJECT"
ENV_USER = "FOCUS_USER"
ENV_SESSION = "FOCUS_SESSION"
ENV_CONFIG = "FOCUS_CONFIG"
ENV_SERVE_PORT = "FOCUS_SERVE_PORT"

DEFAULT_PROJECT = "demo-focus"
EMBEDDED_HOST = "127.0.0.1"
EMBEDDED_PORT = 9000
EMBEDDED_NAMESPACE = "focus"
DEFAULT_CLEANUP_AFTER = "7d"
CONFIG_KEYS = (
    "db_url", "api_key", "auth_url", "credentials", "admin_secret_file", "project", "user", "session",
    "cleanup_after", "hosting_url", "hooks", "hook_timeout", "bell", "notify",
)  # fmt: skip
STRING_KEYS = (
    "db_url", "api_key", "auth_url", "credentials", "admin_secret_file", "project", "user", "session",
    "cleanup_after", "hosting_url",
)  # fmt: skip
DEFAULT_HOOK_TIMEOUT_S = 10.0
MAX_HOOK_TIMEOUT_S = 3600.0

BAD_URL = (
    "use https://… (a Firebase project) or http://host:port?ns=NAME (an emulator or focus serve)"
)
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?")
_UNIT_MS = (86_400_000, 3_600_000, 60_000)


@dataclass(frozen=True)
class Settings:
    """Everything a focus command needs to know before it talks to the database."""

    target: Target
    user: str  # the local profile's name (also the display name of an account focus creates)
    auth: AuthService  # where members sign in
    auto_profiles: str  # "yes": a profile's account is created on first use; "no"; "ask" the server
    credentials_path: Path  # the member's stored sign-ins (focuscli.credentials)
    session: str | None
    project: str
    config_path: Path
    state_dir: Path
    data_dir: Path
    cleanup_after_ms: int
    hooks: Mapping[str, str] = field(default_factory=dict)  # event name -> shell command
    hook_timeout_s: float = DEFAULT_HOOK_TIMEOUT_S
    bell: bool = True  # terminal bell on phase end (watch, wait)
    notify: bool = True  # notify-send on phase end, when it is on PATH
    ca_bundle: str | None = None  # TLS: trust only these CAs (SSL_CERT_FILE / REQUESTS_CA_BUNDLE)
    admin_secret_file: Path | None = None  # a focus serve's admin secret: administrator tasks only
    serve_port_fixed: bool = False  # the embedded server's port was set with FOCUS_SERVE_PORT
    hosting_url: str | None = None  # where a Firebase project's page is deployed (`focus web`)
    cache_dir: Path | None = None  # what can be made again: $XDG_CACHE_HOME/focus (report caches)


def validate_name(kind: str, name: str) -> str:
    """`name` if it is a valid RTDB key for focus (1-64 of [A-Za-z0-9_-]); else UsageError."""
    if not _NAME.fullmatch(name):
        raise UsageError(f"invalid {kind} name {name!r}: use 1-64 letters, digits, '-' or '_'")
    return name


def parse_duration(text: str) -> int:
    """Milliseconds in a duration like "7d", "12h", "90m" or "1d12h"; ValueError otherwise."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"invalid duration {text!r}: use a number with d, h or m, like 7d or 12h")
    return sum(
        int(part) * unit for part, unit in zip(match.groups(), _UNIT_MS, strict=True) if part
    )


def resolve(
    *,
    db: str | None,
    credentials: str | None,
    user: str | None,
    session: str | None,
    environ: Mapping[str, str],
) -> Settings:
    """The settings for one command: flags first, then environment, config file, defaults."""
    home = Path(environ["HOME"]) if environ.get("HOME") else Path.home()
    config_path = _config_path(environ, home)
    config = _load_config(config_path, explicit=bool(environ.get(ENV_CONFIG)))
    state_dir = _xdg(environ, "XDG_STATE_HOME", home / ".local" / "state") / "focus"
    data_dir = _xdg(environ, "XDG_DATA_HOME", home / ".local" / "share") / "focus"

    for kind, flag in (("user", user), ("session", session)):
        if flag == "":  # an explicit empty flag (`--session "$S"`, S unset) is not "the default"
            validate_name(kind, flag)
    if db == "":
        raise UsageError(f"invalid database URL '' (from --db): {BAD_URL}")
    url, source = next(
        (
            (value, where)
            for value, where in (
                (db, "--db"),
                (environ.get(ENV_DATABASE_URL), ENV_DATABASE_URL),
                (config.get("db_url"), f"db_url in {config_path}"),
            )
            if value
        ),
        (None, ""),
    )
    project = _first(environ.get(ENV_PROJECT), config.get("project"))
    key_file = _first(credentials, environ.get(ENV_CREDENTIALS), config.get("credentials"))
    if key_file and key_file.startswith("~/"):
        key_file = str(home / key_file[2:])
    auto_profiles = "yes"
    if url is not None:
        target = _explicit_target(url, key_file, source)
        if project is None and target.kind == "production":
            project = _project_of(target.url)
        auto_profiles = "no" if target.kind == "production" else "ask"
    elif environ.get(ENV_EMULATOR_HOST):
        project = project or DEFAULT_PROJECT
        host = _host_port(environ[ENV_EMULATOR_HOST], ENV_EMULATOR_HOST)
        target = Target(f"http://{host}?ns={project}-default-rtdb", key_file, "emulator")
    else:
        port = _serve_port(environ.get(ENV_SERVE_PORT)) or _recorded_port(state_dir) or EMBEDDED_PORT
        target = Target(f"http://{EMBEDDED_HOST}:{port}?ns={EMBEDDED_NAMESPACE}", None, "embedded")
    auth = _auth_service(target, environ, config, config_path)

    login = _first(user, environ.get(ENV_USER), config.get("user"))
    if login is None:  # the OS login name may hold '.', '@' ...: make it a key, as documented
        login = re.sub(r"[^A-Za-z0-9_-]", "_", _login_name(environ))[:64]
    chosen = _first(session, environ.get(ENV_SESSION), config.get("session"))
    if chosen is None:
        chosen = _remembered_session(state_dir)
    try:
        cleanup_ms = parse_duration(config.get("cleanup_after") or DEFAULT_CLEANUP_AFTER)
    except ValueError as err:
        raise UsageError(f"{config_path}: cleanup_after: {err}") from None
    if cleanup_ms <= 0:  # 0 would delete every idle session, even one created a second ago
        raise UsageError(f"{config_path}: cleanup_after must be more than 0, like 7d or 12h")
    hosting_url = config.get("hosting_url")
    if hosting_url is not None:
        parts = urlsplit(hosting_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") or parts.query:
            raise UsageError(
                f"{config_path}: hosting_url {hosting_url!r} must be the site's address, like https://team.web.app"
            )
        hosting_url = f"{parts.scheme}://{parts.netloc}"
    return Settings(
        target=target,
        user=validate_name("user", login),
        auth=auth,
        auto_profiles=auto_profiles,
        credentials_path=_xdg(environ, "XDG_CONFIG_HOME", home / ".config") / "focus" / "credentials.json",
        ca_bundle=_first(environ.get("SSL_CERT_FILE"), environ.get("REQUESTS_CA_BUNDLE")),
        serve_port_fixed=target.kind == "embedded" and bool(environ.get(ENV_SERVE_PORT)),
        admin_secret_file=_path(_first(environ.get(ENV_ADMIN_SECRET_FILE), config.get("admin_secret_file")), home),
        session=chosen,  # validated when a command uses it (an unused default may be odd)
        project=project or DEFAULT_PROJECT,
        config_path=config_path,
        state_dir=state_dir,
        data_dir=data_dir,
        cache_dir=_xdg(environ, "XDG_CACHE_HOME", home / ".cache") / "focus",
        cleanup_after_ms=cleanup_ms,
        hosting_url=hosting_url,
        hooks=config.hooks,
        hook_timeout_s=config.hook_timeout_s,
        bell=config.bell,
        notify=config.notify,
    )


def remember_session(settings: Settings, name: str | None) -> None:
    """Keep `name` as the last joined session (None forgets it); atomic replace."""
    path = settings.state_dir / "session"
    if name is None:
        path.unlink(missing_ok=True)
        return
    validate_name("session", name)
    import tempfile  # (here: most commands never write it, and every import is start-up time)

    try:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".session.", dir=settings.state_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(name + "\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        reason = err.strerror.lower() if err.strerror else str(err)
        raise UsageError(f"cannot remember the session in {path}: {reason}") from None


# -- helpers ---------------------------------------------------------------------------------


def _first(*values: str | None) -> str | None:
    """The first value that is set and not empty."""
    return next((value for value in values if value), None)


def _xdg(environ: Mapping[str, str], name: str, default: Path) -> Path:
    """An XDG base directory; relative values are ignored, as the spec says."""
    value = environ.get(name)
    return Path(value) if value and os.path.isabs(value) else default


def _config_path(environ: Mapping[str, str], home: Path) -> Path:
    explicit = environ.get(ENV_CONFIG)
    if explicit:
        return Path(explicit).expanduser()
    return _xdg(environ, "XDG_CONFIG_HOME", home / ".config") / "focus" / "config.toml"


class _Config(dict[str, str]):
    """The config file: its string settings (the dict) plus the hook settings."""

    hooks: dict[str, str]
    hook_timeout_s: float = DEFAULT_HOOK_TIMEOUT_S
    bell: bool = True
    notify: bool = True

    def __init__(self) -> None:
        super().__init__()
        self.hooks = {}


def _load_config(path: Path, *, explicit: bool) -> _Config:
    """The config file's settings; empty if the default file does not exist.

    String keys: STRING_KEYS. Hook keys: ``hook_timeout`` (seconds, a number > 0), ``bell`` and
    ``notify`` (booleans), and a ``[hooks]`` table of event name -> shell command.
    """
    config = _Config()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise UsageError(f"config file {path} (from {ENV_CONFIG}) does not exist") from None
        return config
    except UnicodeDecodeError as err:
        raise UsageError(
            f"config file {path} is not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start})"
        ) from None
    except OSError as err:
        reason = err.strerror.lower() if err.strerror else str(err)
        raise UsageError(f"cannot read config file {path}: {reason}") from None
    import tomllib  # (here: only when there is a config file)

    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"config file {path} is not valid TOML: {err}") from None
    for key, value in data.items():
        if key not in CONFIG_KEYS:
            raise UsageError(
                f"config file {path}: unknown key {key!r} (known: {', '.join(CONFIG_KEYS)})"
            )
        if key == "hooks":
            config.hooks = _hooks_table(path, value)
        elif key == "hook_timeout":
            number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
            if number is None or not 0 < number <= MAX_HOOK_TIMEOUT_S:
                raise UsageError(
                    f"config file {path}: hook_timeout must be a number of seconds "
                    f"above 0 and at most {MAX_HOOK_TIMEOUT_S:g}"
                )
            config.hook_timeout_s = float(number)
        elif key in ("bell", "notify"):
            if not isinstance(value, bool):
                raise UsageError(f"config file {path}: {key} must be true or false")
            setattr(config, key, value)
        elif not isinstance(value, str):
            raise UsageError(f"config file {path}: {key} must be a string")
        else:
            config[key] = value
    return config


def _hooks_table(path: Path, value: object) -> dict[str, str]:
    from focuscli.hooks import HOOK_EVENTS  # (here: it imports subprocess and threading)

    if not isinstance(value, dict):
        raise UsageError(f"config file {path}: hooks must be a table ([hooks])")
    hooks: dict[str, str] = {}
    for event, command in value.items():
        if event not in HOOK_EVENTS:
            raise UsageError(
                f"config file {path}: unknown hook event {event!r} (known: {', '.join(HOOK_EVENTS)})"
            )
        if not isinstance(command, str) or not command.strip():
            raise UsageError(f"config file {path}: hooks.{event} must be a shell command (a string)")
        hooks[event] = command
    return hooks


def _explicit_target(url: str, credentials: str | None, source: str) -> Target:
    parts = urlsplit(url.strip())
    if parts.scheme == "https" and parts.hostname:
        return Target(f"https://{parts.netloc}", credentials, "production")
    if parts.scheme == "http" and parts.hostname and parts.path in ("", "/"):
        try:
            port = parts.port
        except ValueError:
            port = None
        names = parse_qs(parts.query).get("ns", [])
        if port and len(names) == 1:
            validate_name("namespace", names[0])
            return Target(f"http://{parts.netloc}?ns={names[0]}", credentials, "emulator")
    raise UsageError(f"invalid database URL {url!r} (from {source}): {BAD_URL}")


def _auth_service(
    target: Target, environ: Mapping[str, str], config: Mapping[str, str], config_path: Path
) -> AuthService:
    """Where members of `target` sign in (see the module docstring), and with which key."""
    api_key = _first(environ.get(ENV_API_KEY), config.get("api_key"))
    emulator = environ.get(ENV_AUTH_EMULATOR_HOST)
    moved = _first(environ.get(ENV_AUTH_URL), config.get("auth_url"))
    if moved:
        parts = urlsplit(moved)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            raise UsageError(f"invalid auth_url {moved!r}: use https://host[:port] (a proxy of Google's sign-in hosts)")
        root = f"{parts.scheme}://{parts.netloc}/"
    elif emulator:
        root = f"http://{_host_port(emulator, ENV_AUTH_EMULATOR_HOST)}/"
    elif target.kind == "production":
        root = PRODUCTION_ROOT
    else:
        return AuthService(target.display_url() + "/", api_key or EMULATOR_API_KEY, noun="the database")
    if target.kind == "production" and not emulator:
        if not api_key:
            raise UsageError(
                f"the Firebase project at {target.url} needs its Web API key to sign members in: "
                f"set api_key in {config_path} or {ENV_API_KEY} (Firebase console → Project "
                "settings → General → Web API key; it is not a secret)"
            )
        return AuthService(root, api_key)
    return AuthService(root, api_key or EMULATOR_API_KEY)


def _path(value: str | None, home: Path) -> Path | None:
    if not value:
        return None
    return home / value[2:] if value.startswith("~/") else Path(value)


def _host_port(value: str, name: str) -> str:
    """`host:port` from an emulator-host variable, as firebase-admin reads it."""
    text = value.strip()
    parts = urlsplit(f"//{text}")
    try:
        port = parts.port
    except ValueError:
        port = None
    if "/" in text or not parts.hostname or not port:
        raise UsageError(f"{name} must be host:port (like 127.0.0.1:9099), not {value!r}")
    return text


def _project_of(url: str) -> str:
    label = (urlsplit(url).hostname or "").split(".")[0]
    return label.removesuffix("-default-rtdb") or DEFAULT_PROJECT


def _recorded_port(state_dir: Path) -> int | None:
    """The port this user's embedded server used last (focuscli.embedded records it)."""
    try:
        text = (state_dir / "serve.port").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() and 1 <= int(text) <= 65535 else None


def _serve_port(value: str | None) -> int | None:
    if not value:
        return None
    if value.isdigit() and 1 <= int(value) <= 65535:
        return int(value)
    raise UsageError(f"{ENV_SERVE_PORT} must be a port number (1-65535), not {value!r}")


def _login_name(environ: Mapping[str, str]) -> str:
    """The login name, looked up like getpass.getuser() but in the given environment."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if environ.get(name):
            return environ[name]
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        raise UsageError(f"cannot tell who you are: use --user or {ENV_USER}") from None


def remembered_session(settings: Settings) -> str | None:
    """The session `remember_session` kept, if any."""
    return _remembered_session(settings.state_dir)


def _remembered_session(state_dir: Path) -> str | None:
    """The session last joined on this machine, if it is still a valid name."""
    try:
        name = (state_dir / "session").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return name if _NAME.fullmatch(name) else None

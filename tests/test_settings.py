"""focuscli.settings: precedence tables, the config file, names and every usage error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from focuscli.backend import Target
from focuscli.errors import UsageError
from focuscli.settings import parse_duration, remember_session, resolve, validate_name
from focuscli.signin import AuthService

EMBEDDED = Target("http://127.0.0.1:9000?ns=focus", None, "embedded")
PROD = "https://my-proj-default-rtdb.firebaseio.com"
EMU = "http://127.0.0.1:9123?ns=team"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment whose XDG directories and home are all under tmp_path."""
    return {
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "USER": "ana",
    }


def config(env: dict[str, str], text: str) -> Path:
    path = Path(env["XDG_CONFIG_HOME"]) / "focus" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def settings(env: dict[str, str], **flags: Any) -> Any:
    args: dict[str, Any] = {"db": None, "credentials": None, "user": None, "session": None}
    args.update(flags)
    return resolve(environ=env, **args)


def test_defaults_are_the_embedded_server_and_xdg_dirs(env: dict[str, str], tmp_path: Path) -> None:
    s = settings(env)
    assert s.target == EMBEDDED
    assert (s.user, s.session, s.project) == ("ana", None, "demo-focus")
    assert s.config_path == tmp_path / "config" / "focus" / "config.toml"
    assert s.state_dir == tmp_path / "state" / "focus"
    assert s.data_dir == tmp_path / "data" / "focus"
    assert s.cleanup_after_ms == 7 * 86_400_000


def test_without_xdg_vars_the_home_defaults_apply(tmp_path: Path) -> None:
    home = tmp_path / "home"
    s = settings({"HOME": str(home), "USER": "ana", "XDG_STATE_HOME": "relative/ignored"})
    assert s.config_path == home / ".config" / "focus" / "config.toml"
    assert s.state_dir == home / ".local" / "state" / "focus"
    assert s.data_dir == home / ".local" / "share" / "focus"


# (flag, FOCUS_DATABASE_URL, config db_url, FIREBASE_DATABASE_EMULATOR_HOST) -> (url, kind)
DATABASE_TABLE = [
    (None, None, None, None, "http://127.0.0.1:9000?ns=focus", "embedded"),
    (EMU, None, None, None, EMU, "emulator"),
    (None, EMU, None, None, EMU, "emulator"),
    (None, None, EMU, None, EMU, "emulator"),
    (EMU, "http://h:1?ns=env", "http://h:2?ns=cfg", "h:3", EMU, "emulator"),
    (None, "http://h:1?ns=env", "http://h:2?ns=cfg", "h:3", "http://h:1?ns=env", "emulator"),
    (None, None, "http://h:2?ns=cfg", "h:3", "http://h:2?ns=cfg", "emulator"),
    (None, None, None, "h:3", "http://h:3?ns=demo-focus-default-rtdb", "emulator"),
    ("http://h:9/?ns=x", None, None, None, "http://h:9?ns=x", "emulator"),
]


@pytest.mark.parametrize(("flag", "env_url", "cfg_url", "emu_host", "url", "kind"), DATABASE_TABLE)
def test_database_precedence(
    env: dict[str, str],
    flag: str | None,
    env_url: str | None,
    cfg_url: str | None,
    emu_host: str | None,
    url: str,
    kind: str,
) -> None:
    if env_url:
        env["FOCUS_DATABASE_URL"] = env_url
    if cfg_url:
        config(env, f'db_url = "{cfg_url}"\n')
    if emu_host:
        env["FIREBASE_DATABASE_EMULATOR_HOST"] = emu_host
    target = settings(env, db=flag).target
    assert (target.url, target.kind, target.credentials) == (url, kind, None)


def test_emulator_host_uses_the_project_namespace(env: dict[str, str]) -> None:
    env["FIREBASE_DATABASE_EMULATOR_HOST"] = "127.0.0.1:9000"
    config(env, 'project = "from-config"\n')
    assert settings(env).target.url == "http://127.0.0.1:9000?ns=from-config-default-rtdb"
    env["FOCUS_PROJECT"] = "from-env"
    s = settings(env)
    assert s.target.url == "http://127.0.0.1:9000?ns=from-env-default-rtdb"
    assert s.project == "from-env"


def test_serve_port_moves_the_embedded_server(env: dict[str, str]) -> None:
    env["FOCUS_SERVE_PORT"] = "9555"
    assert settings(env).target == Target("http://127.0.0.1:9555?ns=focus", None, "embedded")


@pytest.mark.parametrize("port", ["0", "70000", "abc", "-1"])
def test_bad_serve_port(env: dict[str, str], port: str) -> None:
    env["FOCUS_SERVE_PORT"] = port
    with pytest.raises(UsageError) as info:
        settings(env)
    assert info.value.message == f"FOCUS_SERVE_PORT must be a port number (1-65535), not {port!r}"


# credentials (a service-account key, for administrator tasks only):
# (flag, GOOGLE_APPLICATION_CREDENTIALS, config) -> chosen
CREDENTIALS_TABLE = [
    ("/f.json", "/e.json", "/c.json", "/f.json"),
    (None, "/e.json", "/c.json", "/e.json"),
    (None, None, "/c.json", "/c.json"),
]


@pytest.mark.parametrize(("flag", "env_value", "cfg", "chosen"), CREDENTIALS_TABLE)
def test_production_credentials_precedence(
    env: dict[str, str], flag: str | None, env_value: str | None, cfg: str | None, chosen: str
) -> None:
    if env_value:
        env["GOOGLE_APPLICATION_CREDENTIALS"] = env_value
    if cfg:
        config(env, f'credentials = "{cfg}"\n')
    env["FOCUS_API_KEY"] = "AIza-test"
    s = settings(env, db=PROD + "/", credentials=flag)
    assert s.target == Target(PROD, chosen, "production")
    assert s.project == "my-proj"


def test_production_credentials_tilde_expands_in_home(env: dict[str, str]) -> None:
    env["FOCUS_API_KEY"] = "AIza-test"
    s = settings(env, db=PROD, credentials="~/key.json")
    assert s.target.credentials == str(Path(env["HOME"]) / "key.json")


def test_a_member_of_a_firebase_project_needs_no_key_file_but_the_web_api_key(env: dict[str, str]) -> None:
    env["FOCUS_API_KEY"] = "AIza-from-env"
    s = settings(env, db=PROD)
    assert s.target == Target(PROD, None, "production")
    assert s.auth == AuthService("https://", "AIza-from-env")
    assert s.auto_profiles == "no"
    del env["FOCUS_API_KEY"]
    config(env, f'db_url = "{PROD}"\napi_key = "AIza-from-config"\n')
    assert settings(env).auth == AuthService("https://", "AIza-from-config")


def test_a_firebase_project_without_its_web_api_key(env: dict[str, str]) -> None:
    with pytest.raises(UsageError) as info:
        settings(env, db=PROD)
    assert info.value.message == (
        f"the Firebase project at {PROD} needs its Web API key to sign members in: set api_key in "
        f"{Path(env['XDG_CONFIG_HOME']) / 'focus' / 'config.toml'} or FOCUS_API_KEY (Firebase console → "
        "Project settings → General → Web API key; it is not a secret)"
    )


# where members sign in: (database URL, FIREBASE_AUTH_EMULATOR_HOST, FOCUS_AUTH_URL) -> service
AUTH_TABLE = [
    (None, None, None, AuthService("http://127.0.0.1:9000/", "fake-api-key", "the database"), "yes"),
    ("http://h:5?ns=x", None, None, AuthService("http://h:5/", "fake-api-key", "the database"), "ask"),
    ("http://h:5?ns=x", "a:9099", None, AuthService("http://a:9099/", "fake-api-key"), "ask"),
    (PROD, "a:9099", None, AuthService("http://a:9099/", "fake-api-key"), "no"),
    (PROD, None, "https://proxy:8443", AuthService("https://proxy:8443/", "K"), "no"),
    (PROD, None, None, AuthService("https://", "K"), "no"),
]


@pytest.mark.parametrize(("url", "emulator", "moved", "service", "auto"), AUTH_TABLE)
def test_where_members_sign_in(
    env: dict[str, str], url: str | None, emulator: str | None, moved: str | None, service: AuthService, auto: str
) -> None:
    env["FOCUS_API_KEY"] = "K" if url == PROD and emulator is None else ""
    if emulator:
        env["FIREBASE_AUTH_EMULATOR_HOST"] = emulator
    if moved:
        env["FOCUS_AUTH_URL"] = moved
    s = settings(env, db=url)
    assert (s.auth, s.auto_profiles) == (service, auto)


@pytest.mark.parametrize("value", ["localhost", "http://a:1", "a:b", "a:1/x"])
def test_a_bad_auth_emulator_host_is_a_usage_error(env: dict[str, str], value: str) -> None:
    env["FIREBASE_AUTH_EMULATOR_HOST"] = value
    with pytest.raises(UsageError) as info:
        settings(env)
    assert info.value.message == f"FIREBASE_AUTH_EMULATOR_HOST must be host:port (like 127.0.0.1:9099), not {value!r}"


def test_credentials_are_kept_beside_the_config(env: dict[str, str]) -> None:
    assert settings(env).credentials_path == Path(env["XDG_CONFIG_HOME"]) / "focus" / "credentials.json"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x",
        "localhost:9000",
        "http://127.0.0.1:9000",
        "http://127.0.0.1?ns=focus",
        "http://127.0.0.1:9000/path?ns=focus",
        "http://127.0.0.1:9000?ns=a&ns=b",
        "https://",
        "",
    ],
)
def test_bad_database_urls(env: dict[str, str], url: str) -> None:
    env["FOCUS_DATABASE_URL"] = url or "x"
    with pytest.raises(UsageError) as info:
        settings(env, db=url or None)
    shown, source = (url, "--db") if url else ("x", "FOCUS_DATABASE_URL")
    assert info.value.message == (
        f"invalid database URL {shown!r} (from {source}): use https://… (a Firebase project) "
        "or http://host:port?ns=NAME (an emulator or focus serve)"
    )


def test_bad_namespace(env: dict[str, str]) -> None:
    with pytest.raises(UsageError) as info:
        settings(env, db="http://h:1?ns=a.b")
    assert (
        info.value.message == "invalid namespace name 'a.b': use 1-64 letters, digits, '-' or '_'"
    )


# (flag, FOCUS_USER, config user, login) -> user
USER_TABLE = [
    ("flag", "env", "cfg", "login", "flag"),
    (None, "env", "cfg", "login", "env"),
    (None, None, "cfg", "login", "cfg"),
    (None, None, None, "login", "login"),
]


@pytest.mark.parametrize(("flag", "env_value", "cfg", "login", "chosen"), USER_TABLE)
def test_user_precedence(
    env: dict[str, str],
    flag: str | None,
    env_value: str | None,
    cfg: str | None,
    login: str,
    chosen: str,
) -> None:
    env["USER"] = login
    if env_value:
        env["FOCUS_USER"] = env_value
    if cfg:
        config(env, f'user = "{cfg}"\n')
    assert settings(env, user=flag).user == chosen


def test_user_falls_back_to_getpass(env: dict[str, str]) -> None:
    import getpass

    del env["USER"]
    for name in ("LOGNAME", "LNAME", "USERNAME"):
        env.pop(name, None)
    expected = getpass.getuser()
    if not validate_name_ok(expected):
        pytest.skip("this machine's login name is not a valid focus name")
    assert settings(env).user == expected


def validate_name_ok(name: str) -> bool:
    try:
        validate_name("user", name)
    except UsageError:
        return False
    return True


# (flag, FOCUS_SESSION, config session, remembered) -> session
SESSION_TABLE = [
    ("flag", "env", "cfg", "last", "flag"),
    (None, "env", "cfg", "last", "env"),
    (None, None, "cfg", "last", "cfg"),
    (None, None, None, "last", "last"),
    (None, None, None, None, None),
]


@pytest.mark.parametrize(("flag", "env_value", "cfg", "last", "chosen"), SESSION_TABLE)
def test_session_precedence(
    env: dict[str, str],
    flag: str | None,
    env_value: str | None,
    cfg: str | None,
    last: str | None,
    chosen: str | None,
) -> None:
    if env_value:
        env["FOCUS_SESSION"] = env_value
    if cfg:
        config(env, f'session = "{cfg}"\n')
    if last:
        remember_session(settings(env), last)
    assert settings(env, session=flag).session == chosen


def test_remember_session_is_atomic_and_forgettable(env: dict[str, str]) -> None:
    s = settings(env)
    remember_session(s, "team-1")
    remember_session(s, "team-2")
    assert (s.state_dir / "session").read_text() == "team-2\n"
    assert sorted(p.name for p in s.state_dir.iterdir()) == ["session"]
    assert settings(env).session == "team-2"
    remember_session(s, None)
    assert not (s.state_dir / "session").exists()
    assert settings(env).session is None
    remember_session(s, None)  # forgetting twice is fine


def test_a_garbled_remembered_session_is_ignored(env: dict[str, str]) -> None:
    s = settings(env)
    s.state_dir.mkdir(parents=True)
    (s.state_dir / "session").write_text("not a name!\n")
    assert settings(env).session is None


def test_remember_session_reports_an_unwritable_state_dir(
    env: dict[str, str], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    env["XDG_STATE_HOME"] = str(blocker)
    with pytest.raises(
        UsageError, match=f"^cannot remember the session in {blocker}/focus/session: "
    ):
        remember_session(settings(env), "team")


@pytest.mark.parametrize(
    ("name", "ok"),
    [("a", True), ("A-b_9", True), ("x" * 64, True), ("", False), ("x" * 65, False),
     ("a.b", False), ("a/b", False), ("a b", False), ("é", False), ("$x", False)],
)  # fmt: skip
def test_validate_name(name: str, ok: bool) -> None:
    if ok:
        assert validate_name("session", name) == name
        return
    with pytest.raises(UsageError) as info:
        validate_name("session", name)
    assert (
        info.value.message == f"invalid session name {name!r}: use 1-64 letters, digits, '-' or '_'"
    )


def test_invalid_names_from_any_source(env: dict[str, str]) -> None:
    with pytest.raises(UsageError, match=r"^invalid user name 'a\.b':"):
        settings(env, user="a.b")
    env["FOCUS_SESSION"] = "x/y"
    # A default session is checked where it is used (Invocation.session_name), so a command
    # that names its session is not blocked by an odd default.
    assert settings(env).session == "x/y"


def test_the_login_name_becomes_a_valid_user_name(env: dict[str, str]) -> None:
    env.pop("FOCUS_USER", None)
    env["LOGNAME"] = "john.doe@corp"
    assert settings(env).user == "john_doe_corp"


def test_config_file_sets_everything(env: dict[str, str]) -> None:
    config(
        env,
        'db_url = "http://10.0.0.1:9000?ns=team"\nproject = "p"\nuser = "bo"\n'
        'session = "daily"\ncleanup_after = "12h"\n',
    )
    s = settings(env)
    assert s.target == Target("http://10.0.0.1:9000?ns=team", None, "emulator")
    assert (s.project, s.user, s.session, s.cleanup_after_ms) == (
        "p",
        "bo",
        "daily",
        12 * 3_600_000,
    )


def test_focus_config_points_at_another_file(env: dict[str, str], tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text('user = "cy"\n')
    env["FOCUS_CONFIG"] = str(other)
    s = settings(env)
    assert (s.config_path, s.user) == (other, "cy")


def test_missing_focus_config_file(env: dict[str, str], tmp_path: Path) -> None:
    env["FOCUS_CONFIG"] = str(tmp_path / "absent.toml")
    with pytest.raises(UsageError) as info:
        settings(env)
    assert (
        info.value.message
        == f"config file {tmp_path / 'absent.toml'} (from FOCUS_CONFIG) does not exist"
    )


def test_unknown_config_key(env: dict[str, str]) -> None:
    path = config(env, 'usr = "ana"\n')
    with pytest.raises(UsageError) as info:
        settings(env)
    assert info.value.message == (
        f"config file {path}: unknown key 'usr' "
        "(known: db_url, api_key, auth_url, credentials, admin_secret_file, project, user, session, cleanup_after, "
        "hosting_url, hooks, hook_timeout, bell, notify)"
    )


def test_config_values_must_be_strings(env: dict[str, str]) -> None:
    path = config(env, "user = 3\n")
    with pytest.raises(UsageError) as info:
        settings(env)
    assert info.value.message == f"config file {path}: user must be a string"


def test_malformed_config_file(env: dict[str, str]) -> None:
    path = config(env, "user = \n")
    with pytest.raises(UsageError) as info:
        settings(env)
    assert info.value.message.startswith(f"config file {path} is not valid TOML: ")
    assert "\n" not in info.value.message


def test_unreadable_config_file(env: dict[str, str]) -> None:
    # A directory where the file should be cannot be read, whoever runs the test (root included).
    path = config(env, 'user = "x"\n')
    path.unlink()
    path.mkdir()
    with pytest.raises(UsageError, match=f"^cannot read config file {path}: is a directory$"):
        settings(env)


def test_config_file_that_is_not_utf8(env: dict[str, str]) -> None:
    path = config(env, "")
    path.write_bytes(b'user = "\xff"\n')
    with pytest.raises(UsageError) as info:
        settings(env)
    assert info.value.message == f"config file {path} is not UTF-8 text (byte 0xff at offset 8)"


def test_bad_cleanup_after(env: dict[str, str]) -> None:
    path = config(env, 'cleanup_after = "soon"\n')
    with pytest.raises(UsageError) as info:
        settings(env)
    assert info.value.message == (
        f"{path}: cleanup_after: invalid duration 'soon': use a number with d, h or m, like 7d or 12h"
    )


@pytest.mark.parametrize(
    ("text", "ms"),
    [("7d", 604_800_000), ("12h", 43_200_000), ("90m", 5_400_000), ("1d12h", 129_600_000),
     ("1d2h3m", 93_780_000), (" 5m ", 300_000), ("0m", 0)],
)  # fmt: skip
def test_parse_duration(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["", "d", "7", "7s", "1h1d", "-1h", "1.5h", "7 d"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


def test_resolve_never_reads_os_environ(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOCUS_USER", "from-os-environ")
    monkeypatch.setenv("FOCUS_DATABASE_URL", "http://h:1?ns=os")
    s = settings(env)
    assert (s.user, s.target) == ("ana", EMBEDDED)

"""The unchanged firebase_admin.db API end to end (spec §11, §4, §5, §6.2, §7).

Assertions mirror what firebase-admin's own integration suite (EMU-CI) checks on the emulator,
plus the wire contract of §11.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from firebase_admin import db, exceptions

PUSH_CHARS = set("-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz")

DINOSAURS = {
    "bruhathkayosaurus": {"height": 25, "length": 44, "ratings": {"pos": 1}},
    "lambeosaurus": {"height": 2.1, "length": 12.5, "ratings": {"pos": 2}},
    "linhenykus": {"height": 0.6, "length": 1, "ratings": {"pos": 3}},
    "pterodactyl": {"height": 0.6, "length": 0.8, "ratings": {"pos": 5}},
    "stegosaurus": {"height": 4, "length": 9, "ratings": {"pos": 4}},
    "triceratops": {"height": 3, "length": 8, "ratings": {"pos": 6}},
}
SCORES = {
    "bruhathkayosaurus": 55,
    "lambeosaurus": 21,
    "linhenykus": 80,
    "pterodactyl": 93,
    "stegosaurus": 5,
    "triceratops": 22,
}
DINODB: dict[str, dict[str, Any]] = {"dinosaurs": DINOSAURS, "scores": SCORES}
HEIGHT_SORTED = [
    "linhenykus",
    "pterodactyl",
    "lambeosaurus",
    "triceratops",
    "stegosaurus",
    "bruhathkayosaurus",
]
KEY_SORTED = sorted(DINOSAURS)
SCORE_SORTED = [
    "stegosaurus",
    "lambeosaurus",
    "triceratops",
    "bruhathkayosaurus",
    "linhenykus",
    "pterodactyl",
]
INDEX_RULES = {
    "rules": {
        ".read": True,
        ".write": True,
        "dinodb": {
            "dinosaurs": {".indexOn": ["height", "length", "ratings/pos"]},
            "scores": {".indexOn": ".value"},
        },
    }
}
AUTH_RULES = {
    "rules": {
        "public": {".read": True},
        "closed": {".read": False, ".write": False},
        "protected": {
            "user1": {".read": True, ".write": True},
            "user2": {".read": True},
        },
    }
}


@pytest.fixture
def root(sdk_app: Any) -> db.Reference:
    return db.reference("/", app=sdk_app)


@pytest.fixture
def dinodb(sdk_app: Any, rest: Any) -> db.Reference:
    rest.set_rules(INDEX_RULES)
    ref = db.reference("/dinodb", app=sdk_app)
    ref.set(DINODB)
    return ref


class Events:
    """A listen() callback that queues (event_type, path, data) for bounded waits."""

    def __init__(self) -> None:
        self.queue: queue.Queue[tuple[str, str, Any]] = queue.Queue()

    def __call__(self, event: db.Event) -> None:
        self.queue.put((event.event_type, event.path, event.data))

    def next(self, timeout: float = 5.0) -> tuple[str, str, Any]:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no listen() event within {timeout} s")


def stop_listening(registration: db.ListenerRegistration) -> None:
    """`registration.close()`, made prompt and clean.

    SDK quirk (not a server matter): `close()` closes the response while the listener thread is
    blocked reading it; the thread only wakes at the next server bytes (a keep-alive, 30 s
    later) and then dies with AttributeError. Shutting the socket's read side first (urllib3's
    public `HTTPResponse.shutdown()`) ends the stream with EOF, which the SDK handles by
    stopping because `close()`'s flags are already set.
    """
    sse = registration._sse
    sse.should_connect = False
    sse.retry = 0
    sse.resp.raw.shutdown()
    registration._thread.join(timeout=5)
    registration.close()


@contextmanager
def listening(ref: db.Reference) -> Iterator[Events]:
    events = Events()
    registration = ref.listen(events)
    try:
        yield events
    finally:
        stop_listening(registration)


# ---------------------------------------------------------------------------------------------
# reads


def test_reference_attributes(root: db.Reference) -> None:
    ref = root.child("a/b")
    assert ref.key == "b"
    assert ref.path == "/a/b"
    assert ref.parent is not None and ref.parent.path == "/a"


def test_get(dinodb: db.Reference) -> None:
    assert dinodb.get() == DINODB
    assert dinodb.child("dinosaurs").get() == DINOSAURS
    assert dinodb.child("dinosaurs").child("lambeosaurus").get() == DINOSAURS["lambeosaurus"]
    assert dinodb.child("none_existing").get() is None


def test_get_with_etag(dinodb: db.Reference) -> None:
    value, etag = dinodb.get(etag=True)
    assert value == DINODB
    assert isinstance(etag, str) and etag
    assert dinodb.child("nothing").get(etag=True) == (None, "null_etag")


def test_get_shallow(dinodb: db.Reference) -> None:
    assert dinodb.get(shallow=True) == {"dinosaurs": True, "scores": True}
    assert dinodb.child("scores/stegosaurus").get(shallow=True) == 5
    assert dinodb.child("nothing").get(shallow=True) is None


def test_get_if_changed(dinodb: db.Reference) -> None:
    changed, data, etag = dinodb.get_if_changed("wrong_etag")
    assert changed is True
    assert data == DINODB
    assert isinstance(etag, str)
    assert dinodb.get_if_changed(etag) == (False, None, None)
    dinodb.child("scores/stegosaurus").set(6)
    changed, data, new_etag = dinodb.get_if_changed(etag)
    assert changed is True and data["scores"]["stegosaurus"] == 6 and new_etag != etag


# ---------------------------------------------------------------------------------------------
# writes


@pytest.mark.parametrize("value", ["value", "", 0, 1.5, True, False, [1, 2], {"a": {"b": 1}}])
def test_set(root: db.Reference, value: Any) -> None:
    ref = root.child("users/x")
    ref.set(value)
    assert ref.get() == value


def test_push(root: db.Reference) -> None:
    users = root.child("users")
    ref = users.push()
    assert ref.path == "/users/" + ref.key
    assert len(ref.key) == 20 and set(ref.key) <= PUSH_CHARS
    assert ref.get() == ""
    value = {"name": "Luis Alvarez", "since": 1911}
    second = users.push(value)
    assert second.get() == value
    assert second.key > ref.key


def test_update_children(root: db.Reference) -> None:
    ref = root.child("users").push()
    ref.update({"name": "Robert Bakker", "since": 1945})
    assert ref.get() == {"name": "Robert Bakker", "since": 1945}


def test_update_with_existing_values_and_none(root: db.Reference) -> None:
    value = {"name": "Edwin Colbert", "since": 1900, "temp": True}
    ref = root.child("users").push(value)
    ref.update({"since": 1905})
    assert ref.get() == {"name": "Edwin Colbert", "since": 1905, "temp": True}
    ref.update({"temp": None})
    assert ref.get() == {"name": "Edwin Colbert", "since": 1905}


def test_update_nested_children(root: db.Reference) -> None:
    users = root.child("users")
    edward = users.push({"name": "Edward Cope", "since": 1800})
    jack = users.push({"name": "Jack Horner", "since": 1940})
    users.update({f"{edward.key}/since": 1840, f"{jack.key}/since": 1946})
    assert edward.get() == {"name": "Edward Cope", "since": 1840}
    assert jack.get() == {"name": "Jack Horner", "since": 1946}


def test_update_replaces_not_merges(root: db.Reference) -> None:
    ref = root.child("u")
    ref.set({"a": {"x": 1, "y": 2}, "b": 1})
    ref.update({"a": {"z": 3}})
    assert ref.get() == {"a": {"z": 3}, "b": 1}


def test_delete(root: db.Reference) -> None:
    ref = root.child("users").push("foo")
    assert ref.get() == "foo"
    ref.delete()
    assert ref.get() is None
    root.child("never/was").delete()


def test_server_values_through_the_sdk(root: db.Reference) -> None:
    ref = root.child("c")
    ref.set({"n": {".sv": {"increment": 2}}, "at": {".sv": "timestamp"}})
    value = ref.get()
    assert value["n"] == 2 and isinstance(value["at"], int)
    ref.update({"n": {".sv": {"increment": 3}}})
    assert ref.child("n").get() == 5


# ---------------------------------------------------------------------------------------------
# conditional writes and transactions


def test_set_if_unchanged(root: db.Reference) -> None:
    push_data = {"name": "Edward Cope", "since": 1800}
    edward = root.child("users").push(push_data)
    update_data = {"name": "Jack Horner", "since": 1940}
    success, data, etag = edward.set_if_unchanged("invalid-etag", update_data)
    assert success is False
    assert data == push_data
    assert isinstance(etag, str)
    assert edward.get() == push_data

    success, data, new_etag = edward.set_if_unchanged(etag, update_data)
    assert success is True
    assert data == update_data
    assert new_etag != etag
    assert edward.get() == update_data


def test_set_if_unchanged_on_empty_location(root: db.Reference) -> None:
    ref = root.child("fresh")
    assert ref.set_if_unchanged("null_etag", "mine")[0] is True
    success, data, etag = ref.set_if_unchanged("null_etag", "again")
    assert (success, data) == (False, "mine")
    assert etag == ref.get(etag=True)[1]


def test_transaction(root: db.Reference) -> None:
    def update(snapshot: Any) -> Any:
        snapshot["name"] += " Owen"
        snapshot["since"] = 1804
        return snapshot

    ref = root.child("users").push({"name": "Richard"})
    expected = {"name": "Richard Owen", "since": 1804}
    assert ref.transaction(update) == expected
    assert ref.get() == expected


def test_transaction_scalar_and_empty(root: db.Reference) -> None:
    ref = root.child("users/count")
    assert ref.transaction(lambda x: x + 1 if x else 1) == 1
    ref.set(42)
    assert ref.transaction(lambda x: x + 1 if x else 1) == 43
    assert ref.get() == 43


def test_concurrent_transactions(root: db.Reference) -> None:
    ref = root.child("counter")
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                ref.transaction(lambda x: (x or 0) + 1)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert ref.get() == 40


def test_transaction_aborts_after_25_conflicts(root: db.Reference) -> None:
    ref = root.child("contended")
    ref.set(0)
    calls = []

    def always_conflicting(current: Any) -> Any:
        calls.append(current)
        ref.set(1000 + len(calls))  # another writer gets in first every time
        return current + 1

    with pytest.raises(db.TransactionAbortedError) as excinfo:
        ref.transaction(always_conflicting)
    assert str(excinfo.value) == "Transaction aborted after failed retries."
    assert len(calls) == 25
    assert ref.get() == 1025
    # each retry was fed the current value from the 412 body
    assert calls[1:] == [1000 + i for i in range(1, 25)]


# ---------------------------------------------------------------------------------------------
# queries


@pytest.mark.parametrize(
    ("child", "build", "expected"),
    [
        ("dinosaurs", lambda q: q.order_by_key(), KEY_SORTED),
        ("scores", lambda q: q.order_by_value(), SCORE_SORTED),
        ("dinosaurs", lambda q: q.order_by_child("height"), HEIGHT_SORTED),
        ("dinosaurs", lambda q: q.order_by_child("height").limit_to_first(2), HEIGHT_SORTED[:2]),
        ("dinosaurs", lambda q: q.order_by_child("height").limit_to_first(10), HEIGHT_SORTED),
        ("dinosaurs", lambda q: q.order_by_child("height").limit_to_last(2), HEIGHT_SORTED[-2:]),
        ("dinosaurs", lambda q: q.order_by_child("height").limit_to_last(10), HEIGHT_SORTED),
        ("dinosaurs", lambda q: q.order_by_child("height").start_at(3.5), HEIGHT_SORTED[-2:]),
        ("dinosaurs", lambda q: q.order_by_child("height").end_at(3.5), HEIGHT_SORTED[:4]),
        (
            "dinosaurs",
            lambda q: q.order_by_child("height").start_at(2.5).end_at(5),
            HEIGHT_SORTED[-3:-1],
        ),
        ("dinosaurs", lambda q: q.order_by_child("height").equal_to(0.6), HEIGHT_SORTED[:2]),
        (
            "dinosaurs",
            lambda q: q.order_by_child("height").start_at(1).limit_to_first(2),
            HEIGHT_SORTED[2:4],
        ),
        (
            "dinosaurs",
            lambda q: q.order_by_child("height").end_at(4).limit_to_last(2),
            HEIGHT_SORTED[3:5],
        ),
        (
            "dinosaurs",
            lambda q: q.order_by_child("ratings/pos").start_at(4),
            ["stegosaurus", "pterodactyl", "triceratops"],
        ),
        ("dinosaurs", lambda q: q.order_by_key().limit_to_first(2), KEY_SORTED[:2]),
        ("dinosaurs", lambda q: q.order_by_key().limit_to_last(2), KEY_SORTED[-2:]),
        ("dinosaurs", lambda q: q.order_by_key().start_at("l").end_at("p"), KEY_SORTED[1:3]),
        ("dinosaurs", lambda q: q.order_by_key().equal_to("triceratops"), ["triceratops"]),
        ("dinosaurs", lambda q: q.order_by_key().start_at("m").limit_to_first(1), ["pterodactyl"]),
        ("scores", lambda q: q.order_by_value().limit_to_last(2), SCORE_SORTED[-2:]),
        ("scores", lambda q: q.order_by_value().limit_to_first(3), SCORE_SORTED[:3]),
        ("scores", lambda q: q.order_by_value().start_at(21).end_at(55), SCORE_SORTED[1:4]),
        ("scores", lambda q: q.order_by_value().equal_to(80), ["linhenykus"]),
        (
            "scores",
            lambda q: q.order_by_value().start_at(10).limit_to_last(2),
            SCORE_SORTED[-2:],
        ),
    ],
)
def test_query(dinodb: db.Reference, child: str, build: Any, expected: list[str]) -> None:
    value = build(dinodb.child(child)).get()
    assert list(value.keys()) == expected  # the SDK re-sorts client-side (§5.3)
    assert dict(value) == {k: DINODB[child][k] for k in expected}


def test_query_with_no_match(dinodb: db.Reference) -> None:
    assert dinodb.child("dinosaurs").order_by_child("height").start_at(100).get() is None


def test_query_on_missing_location(dinodb: db.Reference) -> None:
    assert dinodb.child("nowhere").order_by_key().limit_to_first(1).get() is None


def test_query_errors_map_to_invalid_argument(dinodb: db.Reference) -> None:
    with pytest.raises(exceptions.InvalidArgumentError) as excinfo:
        dinodb.child("dinosaurs").order_by_key().start_at(1).get()
    assert str(excinfo.value) == "Provided key index type is invalid, must be string"


# ---------------------------------------------------------------------------------------------
# listen()


def test_listen_first_event_is_full_value(root: db.Reference) -> None:
    ref = root.child("room")
    ref.set({"title": "x", "n": 1})
    with listening(ref) as events:
        assert events.next() == ("put", "/", {"title": "x", "n": 1})


def test_listen_on_empty_location(root: db.Reference) -> None:
    with listening(root.child("void")) as events:
        assert events.next() == ("put", "/", None)


def test_listen_push_event(root: db.Reference) -> None:
    python = root.child("python")
    with listening(python) as events:
        assert events.next() == ("put", "/", None)
        ref = python.child("users").push()
        assert ref.get() == ""
        assert events.next() == ("put", "/users/" + ref.key, "")


def test_listen_writes_at_below_and_above(root: db.Reference) -> None:
    ref = root.child("rooms/r1")
    ref.set({"title": "x"})
    with listening(ref) as events:
        assert events.next() == ("put", "/", {"title": "x"})

        ref.child("title").set("y")  # below
        assert events.next() == ("put", "/title", "y")

        ref.set({"title": "z", "n": 1})  # at
        assert events.next() == ("put", "/", {"title": "z", "n": 1})

        ref.child("n").delete()  # below, delete
        assert events.next() == ("put", "/n", None)

        root.child("elsewhere").set(1)  # unrelated: nothing
        root.child("rooms/r2").set(1)  # sibling: nothing
        ref.child("marker").set(1)
        assert events.next() == ("put", "/marker", 1)

        # spec §12.8: inferred — a write above L yields one put "/" with the new value at L
        root.child("rooms").set({"r1": {"title": "above"}, "r2": 2})
        assert events.next() == ("put", "/", {"title": "above"})

        root.child("rooms").delete()
        assert events.next() == ("put", "/", None)


def test_listen_update_events(root: db.Reference) -> None:
    ref = root.child("rooms/r1")
    ref.set({"title": "x", "draft": "d"})
    with listening(ref) as events:
        assert events.next() == ("put", "/", {"title": "x", "draft": "d"})
        # spec §12.8: inferred — single-segment keys -> one patch carrying the request members
        ref.update({"title": "y", "draft": None})
        assert events.next() == ("patch", "/", {"title": "y", "draft": None})
        ref.child("sub").update({"a": 1})
        assert events.next() == ("patch", "/sub", {"a": 1})
        # spec §12.8: inferred — multi-segment keys -> one put per entry, back to back
        ref.update({"a/b": 1, "c/d": 2})
        assert {events.next(), events.next()} == {("put", "/a/b", 1), ("put", "/c/d", 2)}


def test_listen_sees_resolved_server_values(root: db.Reference) -> None:
    ref = root.child("sv")
    with listening(ref) as events:
        assert events.next() == ("put", "/", None)
        ref.child("n").set({".sv": {"increment": 5}})
        assert events.next() == ("put", "/n", 5)


def test_listen_many_writes_in_order(root: db.Reference) -> None:
    ref = root.child("seq")
    with listening(ref) as events:
        assert events.next() == ("put", "/", None)
        for i in range(30):
            ref.child("n").set(i)
        assert [events.next() for _ in range(30)] == [("put", "/n", i) for i in range(30)]


# §7.2/§12.3: needs `charset=utf-8`, a recommendation the emulator may not follow
@pytest.mark.focus_serve
def test_listen_unicode_round_trip(root: db.Reference) -> None:
    text = "héllo ☃ \U0001f600 ünïcødé"
    ref = root.child("uni")
    ref.set({"t": text, "k\u00e9y": 1})
    with listening(ref) as events:
        assert events.next() == ("put", "/", {"t": text, "k\u00e9y": 1})
        ref.child("t").set(text + "!")
        assert events.next() == ("put", "/t", text + "!")


# ---------------------------------------------------------------------------------------------
# databaseAuthVariableOverride apps (§6.2, EMU-CI TestAuthVariableOverride)


@pytest.fixture
def protected(root: db.Reference, rest: Any) -> db.Reference:
    root.set(
        {
            "public": "test",
            "closed": "test",
            "protected": {"user1": "test", "user2": "test"},
        }
    )
    rest.set_rules(AUTH_RULES)
    return root


def assert_permission_denied(call: Any) -> None:
    with pytest.raises(exceptions.UnauthenticatedError) as excinfo:
        call()
    assert str(excinfo.value) == "Permission denied"


def test_override_no_access(protected: db.Reference, sdk_as: Any) -> None:
    user_ref = db.reference("/closed", app=sdk_as({"uid": "user1"}))
    assert_permission_denied(user_ref.get)
    assert_permission_denied(lambda: user_ref.set("test2"))
    assert protected.child("closed").get() == "test"


def test_override_read(protected: db.Reference, sdk_as: Any) -> None:
    user_ref = db.reference("/protected/user2", app=sdk_as({"uid": "user1"}))
    assert user_ref.get() == "test"
    assert_permission_denied(lambda: user_ref.set("test2"))


def test_override_read_write(protected: db.Reference, sdk_as: Any) -> None:
    user_ref = db.reference("/protected/user1", app=sdk_as({"uid": "user1"}))
    assert user_ref.get() == "test"
    user_ref.set("test2")
    assert user_ref.get() == "test2"


def test_override_query(protected: db.Reference, sdk_as: Any) -> None:
    user_ref = db.reference("/protected", app=sdk_as({"uid": "user1"}))
    assert_permission_denied(lambda: user_ref.order_by_key().limit_to_first(2).get())


def test_none_override(protected: db.Reference, sdk_as: Any) -> None:
    app = sdk_as(None)
    assert db.reference("/public", app=app).get() == "test"
    assert_permission_denied(db.reference("/closed", app=app).get)
    assert_permission_denied(lambda: db.reference("/public", app=app).set("x"))


def test_override_other_methods_denied(protected: db.Reference, sdk_as: Any) -> None:
    user_ref = db.reference("/closed", app=sdk_as({"uid": "user1"}))
    assert_permission_denied(lambda: user_ref.update({"a": 1}))
    assert_permission_denied(lambda: user_ref.push("x"))
    assert_permission_denied(user_ref.delete)
    assert_permission_denied(lambda: user_ref.get(etag=True))
    assert_permission_denied(lambda: user_ref.transaction(lambda x: x))
    assert protected.child("closed").get() == "test"


def test_override_applies_to_listen(protected: db.Reference, sdk_as: Any) -> None:
    app = sdk_as({"uid": "user1"})
    with listening(db.reference("/protected/user2", app=app)) as events:
        assert events.next() == ("put", "/", "test")
    # spec §12.3: inferred — a stream denied at connect time is a plain 401
    assert_permission_denied(lambda: db.reference("/closed", app=app).listen(Events()))

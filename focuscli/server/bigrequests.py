"""Big writes and reads: their heavy steps on the worker thread, their commit on the loop.

A big write is judged on the worker thread against the head of the namespace as it was when
the judgement started (parse, normalise, rules, and the encodings of its answer, its events and
its journal record), while the loop goes on serving and committing others. Back on the loop it
commits only if the judgement still holds: either nothing was committed meanwhile, or nothing
committed meanwhile wrote where this write writes or where its rules looked (the ReadSet). Then
the rules were, in effect, evaluated against the tree at commit time, and of two writes that
ask for the same rev exactly one passes, as with small writes. Otherwise it is judged again,
and after a few tries with the other writes of the namespace held back (the gate), so that
it cannot be overtaken forever. Commits stay in order on the loop, streams get events in
commit order, a write is answered once it is durable.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any

from focuscli.rules.snapshot import ReadSet
from focuscli.server import bigjson, tree
from focuscli.server.auth import Identity
from focuscli.server.change import Change
from focuscli.server.offload import Worker, etag
from focuscli.server.pushid import PushIds
from focuscli.server.query import Query, run_query
from focuscli.server.rendered import Rendered
from focuscli.server.sse import encoded_object
from focuscli.server.store import Namespace, Store, Watched, written_paths
from focuscli.server.tree import Node, Path, TreeError
from focuscli.server.wire import (
    TOO_BIG,
    HttpError,
    Request,
    Response,
    json_response,
    text,
)

DEEP = "Invalid data; the data is nested deeper than 32 levels."
OPTIMISTIC_ATTEMPTS = 2  # judgements overtaken by other commits before the gate is closed


# ---------------------------------------------------------------------------------------------
# shared with small writes


def normalize(value: Any, path: Path, resolve: tree.ServerValue, body: bytes) -> Node:
    try:
        return tree.normalize(value, path, resolve)
    except tree.InvalidKey as err:
        raise HttpError(400, tree.key_error_message(text(body), err.key)) from None
    except TreeError as err:
        raise HttpError(400, str(err)) from None
    except RecursionError:
        raise HttpError(400, DEEP) from None


def patch_change(path: Path, raw: Any, body: bytes, resolve: tree.ServerValue) -> Change:
    """The change a PATCH of ``raw`` (its parsed ``body``) at ``path`` makes."""
    if type(raw) is not dict:
        raise HttpError(400, "Invalid data; a PATCH body must be a JSON object.")
    entries: list[tuple[Path, Node]] = []
    for key, value in raw.items():
        try:
            rel = tree.parse_path(key.split("/"))
        except TreeError:
            raise HttpError(400, tree.key_error_message(text(body), key)) from None
        if not rel:
            raise HttpError(400, tree.key_error_message(text(body), key))
        entries.append((rel, normalize(value, path + rel, resolve, body)))
    overlap = tree.first_overlap(rel for rel, _ in entries)
    if overlap is not None:
        before, after = overlap
        raise HttpError(
            400,
            f"Invalid data; path {tree.path_str(before)} is an ancestor of "
            f"{tree.path_str(after)} in the same update.",
        )
    return Change("patch", path, tuple(entries))


# ---------------------------------------------------------------------------------------------
# reads


def read_response(
    node: Node, query: Query | None, shallow: bool, params: dict[str, str],
    headers: dict[str, str], want_etag: bool, answer: tuple[Node] | None = None,
    rendered: Rendered | None = None,
) -> Response:  # fmt: skip
    """A GET's answer for a big ``node`` (worker thread): as App._get answers a small one.
    ``answer``: (the query's result,) when it is already known (``query`` is then None);
    ``rendered``: the worker's kept encodings, for a plain compact answer."""
    value = run_query(node, query) if query is not None else node if answer is None else answer[0]
    answer_headers: dict[str, str] = {}
    if_none = headers.get("if-none-match")
    if want_etag or if_none is not None:
        current = etag(node)
        answer_headers["etag"] = current
        if if_none is not None and if_none == current:
            return Response(304, b"", answer_headers)
    pretty = params.get("print") == "pretty"
    if shallow:
        out = tree.shallow(value)
    elif params.get("format") == "export":
        out = tree.export(value)
    elif rendered is not None and not pretty:
        return json_response(200, None, params, answer_headers, encoded=rendered.encode(value))
    else:
        out = tree.render(value)
    encoded = None if pretty else bigjson.encode(out)
    return json_response(200, out, params, answer_headers, encoded=encoded)


# ---------------------------------------------------------------------------------------------
# writes


@dataclass
class _Judged:
    change: Change  # with its entries rendered
    new_root: Node
    record: bytes | None
    watched: Watched  # written paths and where the rules looked
    etag: str | None


@dataclass
class _Mismatch:
    """The if-match ETag is not the current one."""

    readable: bool
    current: bytes  # rendered, when readable
    etag: str


class Write:
    """One big PUT, POST, PATCH or DELETE (the caller holds the worker's lane)."""

    def __init__(
        self, store: Store, ns: Namespace, method: str, path: Path, params: dict[str, str],
        request: Request, who: Identity, max_values: int | None, push_ids: PushIds,
    ) -> None:  # fmt: skip
        self.store, self.ns, self.method, self.path = store, ns, method, path
        self.params, self.request, self.who, self.max_values = params, request, who, max_values
        self.if_match = request.headers.get("if-match")
        self.want_etag = request.headers.get("x-firebase-etag", "").lower() == "true"
        self.name = push_ids.next(store.now_ms()) if method == "POST" else None
        self.target = path + (self.name,) if self.name is not None else path

    async def run(self, worker: Worker) -> Response:
        raw = None
        if self.method != "DELETE":
            raw = await worker.run(parse, self.request.body, self.max_values)
        ns = self.ns
        attempt = 0
        done: asyncio.Future[None] | None = None
        while True:
            while ns.gate is not None:
                await asyncio.shield(ns.gate)
            gate, gated = None, ns
            if attempt >= OPTIMISTIC_ATTEMPTS:  # judge the head with the other writes held back
                gate = ns.gate = self.store.loop.create_future()
            try:
                root, version = ns.root, ns.version
                judged = await worker.run(self._judge, raw, root, ns.access, self.store.now_ms())
                if isinstance(judged, _Mismatch):
                    return await self._mismatch(judged)
                registered = self.store.namespaces.get(ns.name)
                if registered is not None and registered is not ns:
                    ns = self.ns = registered  # created meanwhile (by a first small write): judge
                    attempt += 1  # again against the namespace that holds it
                    continue
                if ns.root is not root and self.store.changed_since(ns, version, judged.watched):
                    attempt += 1  # overtaken where it matters: judge again against the new head
                    continue
                new_root = (
                    judged.new_root if ns.root is root else _carried(ns, version, root, judged)
                )
                if new_root is _OVERTAKEN:
                    attempt += 1
                    continue
                if new_root is not ns.root:
                    done = self.store.commit(ns, judged.change, new_root, judged.record)
            finally:
                if gate is not None:
                    gated.gate = None
                    gate.set_result(None)
            break
        if done is None:
            done = self.store.barrier()
        if done is not None:
            await done
        return await worker.run(self._answer, judged, new_root)

    def _judge(self, raw: Any, root: Node, access: Any, now: int) -> _Judged | _Mismatch:
        """Worker thread: the write against ``root`` (an immutable snapshot of the head)."""
        resolve = tree.server_values(now, root)
        body, target = self.request.body, self.target
        if self.method == "DELETE":
            change = Change("put", target, (((), None),))
        elif self.method == "PATCH":
            change = patch_change(target, raw, body, resolve)
        else:
            change = Change("put", target, (((), normalize(raw, target, resolve, body)),))
        if self.if_match is not None:
            current = tree.get(root, target)
            current_tag = etag(current)
            if self.if_match != current_tag:
                readable = self.who.admin or access.can_read(target, self.who.auth, root, now, None)
                shown = bigjson.encode(tree.render(current)) if readable else b""
                return _Mismatch(readable, shown, current_tag)
        new_root = change.apply(root)
        reads = ReadSet(change.paths())
        if not self.who.admin:
            for where in change.paths():
                if not access.can_write(where, self.who.auth, root, new_root, now, reads):
                    raise HttpError(401, "Permission denied")
        if self.params.get("print") != "silent" or self.ns.listeners:  # else nobody needs them
            rendered = tuple(bigjson.encode(tree.render(node)) for _, node in change.entries)
            change = dataclasses.replace(change, rendered=rendered)
        tag = None
        if self.method == "PUT" and (self.if_match is not None or self.want_etag):
            tag = etag(change.entries[0][1])
        record = self.store.journal_record(self.ns, change)
        watched = Watched([*written_paths(change), *reads.paths])  # indexed here, off the loop
        return _Judged(change, new_root, record, watched, tag)

    async def _mismatch(self, judged: _Mismatch) -> Response:
        # The 412 carries the current value: only for callers who may read it, and only once
        # that value is durable.
        if not judged.readable:
            raise HttpError(401, "Permission denied")
        pending = self.store.barrier()
        if pending is not None:
            await pending
        return json_response(412, None, {}, {"etag": judged.etag}, encoded=judged.current)

    def _answer(self, judged: _Judged, new_root: Node) -> Response:
        """Worker thread: the answer, from the encodings the judgement made."""
        headers: dict[str, str] = {}
        if judged.etag is not None:
            headers["etag"] = judged.etag
        elif self.want_etag and self.method != "PATCH":
            headers["etag"] = etag(tree.get(new_root, self.path))  # POST: the parent's
        params = self.params
        change = judged.change
        if self.method == "POST":
            return json_response(200, {"name": self.name}, params, headers)
        if self.method == "DELETE":
            return json_response(200, None, params, headers)
        if change.rendered is None:  # print=silent
            return json_response(200, None, params, headers)
        pretty_print = params.get("print") == "pretty"
        if self.method == "PATCH":
            items = [("/".join(rel), data) for (rel, _), data in zip(change.entries, change.rendered, strict=True)]
            value = None
            if pretty_print:
                value = {key: tree.render(node) for key, node in
                         (("/".join(rel), node) for rel, node in change.entries)}  # fmt: skip
            return json_response(200, value, params, headers, encoded=encoded_object(items))
        node = change.entries[0][1]
        value = tree.render(node) if pretty_print else None
        return json_response(200, value, params, headers, encoded=change.rendered[0])


_OVERTAKEN: Any = object()


def _carried(ns: Namespace, version: int, root: Node, judged: _Judged) -> Node:
    """The write applied to the head (loop thread), without applying its many entries again: the
    commits since ``version`` wrote nowhere it writes or its rules looked (changed_since), so
    the head is its judged tree with their paths copied over from the head, a few steps each.
    A write that changed nothing changes nothing on the head either. ``_OVERTAKEN`` when a path
    lies under a node the write emptied (it would come back without its priority): judge again.
    """
    if judged.new_root is root:
        return ns.root
    new = judged.new_root
    for seq, written in reversed(ns.history):
        if seq <= version:
            break
        for path in written:
            for depth in range(1, len(path)):
                above = path[:depth]
                if tree.get(judged.new_root, above) is None and tree.get(root, above) is not None:
                    return _OVERTAKEN
            new = tree.set_at(new, path, tree.get(ns.root, path))
    return new


def parse(body: bytes, max_values: int | None) -> Any:
    """Worker thread: a big body as JSON, refused as soon as it proves too many values."""
    try:
        return bigjson.parse(bigjson.decode_utf8(body), max_values=max_values)
    except UnicodeDecodeError:
        raise HttpError(400, tree.INVALID_JSON) from None
    except bigjson.TooManyValues:
        raise HttpError(400, TOO_BIG) from None
    except bigjson.TooDeep:
        raise HttpError(400, DEEP) from None
    except ValueError:
        raise HttpError(400, tree.INVALID_JSON) from None


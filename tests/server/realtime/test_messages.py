"""Texts on the socket (rtdb-websocket.md §1.4, §1.5): table tests, no socket."""

from __future__ import annotations

import json

import pytest

from focuscli.server.realtime import messages
from focuscli.server.realtime.messages import (
    Envelope,
    KeepAlive,
    Oversized,
    ProtocolError,
    Reassembler,
)


def feed_all(texts: list[str], max_bytes: int = messages.MAX_MESSAGE_BYTES) -> list[object]:
    reassembler = Reassembler(max_bytes)
    return [out for text in texts if (out := reassembler.feed(text)) is not None]


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["0"], [KeepAlive()]),
        (['{"t":"d","d":{"r":1}}'], [Envelope("d", {"r": 1})]),
        (["2", '{"t":"c",', '"d":{"t":"p","d":{}}}'], [Envelope("c", {"t": "p", "d": {}})]),
        (["1", '{"t":"d","d":7}'], [Envelope("d", 7)]),  # a count of 1 before one piece
        (["2", '{"t":"d","d":', "0}"], [Envelope("d", 0)]),  # a piece is never a keep-alive
        (["0", '{"t":"x","d":null}', "0"], [KeepAlive(), Envelope("x", None), KeepAlive()]),
    ],
    ids=["keep-alive", "whole", "counted", "count-of-one", "numeric-piece", "other-layer"],
)
def test_reassembly(texts: list[str], expected: list[object]) -> None:
    assert feed_all(texts) == expected


@pytest.mark.parametrize(
    "text",
    ["not json", "[1,2]", '{"t":"d"}', '{"d":1}', '{"t":5,"d":1}', "NaN", '{"t":"d","d":NaN}', "1234567"],
)
def test_anything_but_an_envelope_is_a_protocol_error(text: str) -> None:
    with pytest.raises(ProtocolError):
        Reassembler().feed(text)


def test_an_oversized_message_is_skipped_and_named_by_its_request_number() -> None:
    head = '{"t":"d","d":{"r":42,"a":"p","b":{"p":"/big","d":"'
    body = head + "x" * 300 + '"}}}'
    pieces = [body[i : i + 100] for i in range(0, len(body), 100)]
    assert feed_all([str(len(pieces)), *pieces], max_bytes=200) == [Oversized(42)]
    assert feed_all(['{"t":"d","d":{"r":7,"a":"p","b":{"d":"' + "y" * 300 + '"}}}'], max_bytes=200) == [Oversized(7)]
    assert feed_all(["2", "x" * 150, "y" * 150], max_bytes=200) == [Oversized(None)]


def test_the_reassembler_is_ready_for_more_after_an_oversized_message() -> None:
    reassembler = Reassembler(100)
    for piece in ("2", "a" * 80, "b" * 80):
        last = reassembler.feed(piece)
    assert last == Oversized(None)
    assert reassembler.feed('{"t":"d","d":1}') == Envelope("d", 1)


def test_short_messages_go_out_whole() -> None:
    envelope = messages.response(3, "ok", "")
    assert messages.encode(envelope) == ['{"t":"d","d":{"r":3,"b":{"s":"ok","d":""}}}']


def test_long_messages_go_out_as_a_count_and_pieces_of_at_most_16384_characters() -> None:
    envelope = messages.push("d", {"p": "a", "d": "é" * 40000})
    texts = messages.encode(envelope)
    assert texts[0] == str(len(texts) - 1) and len(texts) == 4
    assert all(len(t) <= 16384 and len(t.encode()) <= 65536 for t in texts[1:])
    assert json.loads("".join(texts[1:])) == envelope
    # No server text but a count is ever short and numeric (a JS client would take it for one).
    assert all(not (len(t) <= 6 and t.isdigit()) for t in texts[1:])


def test_a_lone_surrogate_is_escaped_so_the_text_is_valid_utf8() -> None:
    text = messages.encode(messages.push("d", {"p": "a", "d": "x\ud800y"}))[0]
    text.encode("utf-8")
    assert json.loads(text)["d"]["b"]["d"] == "x\ud800y"

"""The Realtime Database wire protocol v5 (what the SDKs speak over ``/.ws``), without I/O.

``messages`` turns WebSocket texts into envelopes and back (keep-alives, frame counts,
reassembly); ``session`` is one connection's protocol state, fed one text at a time and
answering with ``actions`` for the transport to carry out; ``arguments``, ``queries``,
``pushes`` and ``ondisconnect`` are the pieces it is made of. Stdlib only, no asyncio: every
case is a table test.
"""

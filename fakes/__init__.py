"""
Stand-ins for Discord that the tests and the benchmarks share.

- :mod:`fakes.discord`: ``FakeDiscord``, a loopback HTTP server on
  127.0.0.1 that answers as Discord does (limits, rate-limit headers,
  429s, error codes), never what our own stricter rules would say.
- :mod:`fakes.discord_schema`: Discord's published schema for the
  payloads we send, and our own limits, as checks on a payload.

Not part of the library: nothing in ``polybot_loghandler`` imports it,
and the wheel does not carry it.
"""

"""The ``msisdn-gateway`` command: the composition root of every process.

- ``server_commands``: the command group and the server commands (serve, api, worker, keys, db);
  it registers the administration commands explicitly (``admin_commands.register``).
- ``admin_commands``: modems, send, selftest, probe, sim, outbox, inbox.
- ``options``: what both share (settings with flags, opening the database).

May import anything in ``gateway`` and ``modem``; nothing imports it (it is the top).
"""

"""The ``msisdn-gateway`` command: the composition root of every process.

- ``server_commands``: the command group and the server commands (serve, api, worker, keys, db);
  it registers the administration commands explicitly (``admin_commands.register``), when
  the group first needs them: the server processes never build them.
- ``admin_commands``: modems, send, selftest, probe, sim, outbox, inbox.
- ``options``: what both share (settings with flags, opening the database), and the keys
  check and migrations of a server process, run in a forked child (``prepare``).

May import anything in ``gateway`` and ``modem``; nothing imports it (it is the top).
"""

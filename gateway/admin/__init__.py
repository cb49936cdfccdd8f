"""What the administration commands do, behind the CLI: listings of modems, outbox and
inbox, a test SMS followed to delivery, the SIM self-test, a local worker for --simulate, the
admin page's password (``password``).

May import the kernel, config, storage, verification, pipeline, process and ``modem``;
imported by gateway.cli, and by the admin page (gateway.api.admin: the listings, the
test SMS and the admin password, never ``local``, which starts a worker).
"""

"""What the administration commands do, behind the CLI: listings of modems, outbox and
inbox, a test SMS followed to delivery, the SIM self-test, a local worker for --simulate.

May import the kernel, config, storage, verification, pipeline, process and ``modem``;
imported only by gateway.cli.
"""

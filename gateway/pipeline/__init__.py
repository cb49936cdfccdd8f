"""The worker's side of the SMS pipeline: outbox dispatch to the modem pool, delivery
reports applied to the outbox, inbound SMS stored and acted on, modem status published,
and the simulated network's mirror. Runs only in the worker process.

May import the kernel, config, storage, verification and ``modem``.
"""

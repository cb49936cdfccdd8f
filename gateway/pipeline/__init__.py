"""The worker's side of the SMS pipeline: outbox dispatch, delivery reports, inbound SMS,
modem status publishing and the simulated network. Runs only in the worker process."""

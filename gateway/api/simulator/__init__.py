"""``--simulate`` only: the virtual phones and the modem faults of the simulated network,
over HTTP (``views``). Like everything between the API and the worker, it goes through
the database.

May import the kernel, gateway.http, the packages below the faces and ``modem.sim``.
"""

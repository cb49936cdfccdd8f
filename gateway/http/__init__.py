"""HTTP plumbing shared by every face: JSON error handlers, request bodies and parameters,
per-client request limits, Hawk authentication, the origins URLs are built on (never the
request's Host as sent: ``origins``), and the request's one transaction (``transaction``:
the unit of work every use case of the request joins).

May import the kernel and the packages below the faces (verification for sessions and
rate limits); never a face: the faces import it.
"""

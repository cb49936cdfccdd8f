"""HTTP plumbing shared by every face: JSON error handlers, request bodies and parameters,
per-client request limits, Hawk authentication.

May import the kernel and the packages below the faces (verification for sessions and
rate limits); never a face: the faces import it.
"""

"""The HTTP API: thin Flask views over the use cases in gateway.verification."""

"""msisdn-gateway: the HTTP API, verification logic and storage."""

__version__ = "0.1.0"

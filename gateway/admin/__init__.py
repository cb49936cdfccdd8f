"""Administration commands behind the CLI: listings, a test SMS, the SIM self-test."""

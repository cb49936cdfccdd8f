"""Use cases of the MSISDN Verification API. Imports neither Flask nor pyserial."""

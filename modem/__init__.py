"""The modem side: AT engine, modem pool and the simulated modem.

This package never imports ``gateway``, Flask or SQLAlchemy.
"""

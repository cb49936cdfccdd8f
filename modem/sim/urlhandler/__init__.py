"""pyserial URL handlers of the simulator: ``modemsim://`` (see protocol_modemsim).

This package is added to ``serial.protocol_handler_packages`` by ``modem.sim.register()``.
It may import pyserial and ``modem.sim``; pyserial imports it by name, so the package
keeps the name pyserial's ``protocol_<scheme>`` convention asks for.
"""

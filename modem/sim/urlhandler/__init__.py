"""pyserial URL handlers of the simulator: ``modemsim://`` (see protocol_modemsim).

This package is added to ``serial.protocol_handler_packages`` by ``modem.sim.register()``.
"""

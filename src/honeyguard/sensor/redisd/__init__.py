"""The Redis sensor's parts: RESP parser, command emulation, INFO, personas."""

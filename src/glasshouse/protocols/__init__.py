"""Wire formats and protocol state machines, sans-I/O: bytes and time in, values out."""

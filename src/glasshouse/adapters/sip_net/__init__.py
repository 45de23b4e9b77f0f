"""SIP on real sockets (UDP and TCP)."""

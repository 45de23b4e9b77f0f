"""The voice server's use cases: calls through IVR flows into ACD queues and out to agents'
phones, over the SIP/RTP adapters."""

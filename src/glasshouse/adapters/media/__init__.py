"""Media services: audio sources (prompts, text to speech, music on hold, tones), RTP sessions on
real sockets, bridging and call recording."""

"""What plays into a call leg: anything that yields 20 ms G.711 payloads.

A source is pulled once per 20 ms packet by the RTP session that plays it. Sources keep their audio
pre-encoded in both laws where they can, so a packet costs a slice, not an encode."""

from __future__ import annotations

from typing import Final, Protocol

from glasshouse.protocols.rtp.g711 import PCMA_PAYLOAD_TYPE, PCMU_PAYLOAD_TYPE

SAMPLE_RATE: Final = 8000
FRAME_SAMPLES: Final = 160  # 20 ms at 8 kHz
FRAME_MS: Final = 20
G711_PAYLOAD_TYPES: Final = (PCMU_PAYLOAD_TYPE, PCMA_PAYLOAD_TYPE)


class AudioSource(Protocol):
    """Yields one 20 ms payload (160 G.711 bytes) per call, in the law of ``payload_type``
    (0 = PCMU, 8 = PCMA), and ``None`` once it has finished. A finished source stays finished."""

    def next_payload(self, payload_type: int) -> bytes | None: ...

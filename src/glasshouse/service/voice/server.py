"""The voice server's composition: the setup, the event log, one ACD per tenant, the registrar,
the toll-fraud guard, the media engine and the switch, started on one event loop. At start,
what a stopped process left open is recovered: its calls and agents' logins are closed in the
log, recordings are closed, callbacks still pending go back to their tenant's ACD."""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
from dataclasses import dataclass
from typing import Final

from glasshouse.adapters.eventstore.sqlite import SqliteEventStore
from glasshouse.adapters.media.ports import PortAllocator
from glasshouse.adapters.media.rtp_session import MediaEngine
from glasshouse.adapters.personal import SqlitePersonalStore
from glasshouse.domain.acd import Acd, AcdSettings
from glasshouse.domain.acd.recovery import close_out
from glasshouse.domain.events import Event, RecordingStopped
from glasshouse.domain.voice.guard import TollFraudGuard
from glasshouse.domain.voice.registrar import Registrar
from glasshouse.protocols.sip.digest import DigestAuthenticator
from glasshouse.service.contact_center import ContactCenter
from glasshouse.service.voice.callbacks import pending_callbacks
from glasshouse.service.voice.media_kit import MediaKit
from glasshouse.service.voice.setup import ServerSetup
from glasshouse.service.voice.switch import Switch, now_ms

__all__ = ["ServerOptions", "VoiceServer"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """What the command line may override in the setup: listening host and port, RTP ports."""

    sip_host: str | None = None
    sip_port: int | None = None
    rtp_ports: tuple[int, int] | None = None


class VoiceServer:
    """Build with :meth:`create` (it binds the sockets), stop with :meth:`close`."""

    def __init__(self, setup: ServerSetup, switch: Switch, store: SqliteEventStore) -> None:
        self.setup = setup
        self.switch = switch
        self.store = store

    @classmethod
    async def create(cls, setup: ServerSetup, options: ServerOptions) -> VoiceServer:
        loop = asyncio.get_running_loop()
        settings = setup.voice.server
        host = options.sip_host or settings.sip_host
        port = settings.sip_port if options.sip_port is None else options.sip_port
        low, high = options.rtp_ports or (settings.rtp_port_min, settings.rtp_port_max)
        setup.data_dir.mkdir(parents=True, exist_ok=True)
        store = SqliteEventStore(setup.data_dir / "events.db", durability="process")
        personal: SqlitePersonalStore | None = None
        try:
            # The numbers the log names by reference, as durable as the log (the switch owns it).
            personal = SqlitePersonalStore(setup.data_dir / "personal.db", durability="process")
            kit = MediaKit(setup.data_dir)
            centers: dict[str, ContactCenter] = {}
            for tenant in setup.tenants.values():
                _close_out(store, tenant.tenant_id)
                acd = Acd(
                    tenant.tenant_id, AcdSettings(reason_codes=frozenset(tenant.reason_codes))
                )
                center = ContactCenter(acd, store)
                start = now_ms()
                for queue in tenant.queues:
                    center.run(Acd.configure_queue, queue, start)
                for agent in tenant.agents:
                    center.run(Acd.configure_agent, agent, start)
                centers[tenant.tenant_id] = center
                # Recordings a killed process left open: repaired, closed, and logged.
                recovered = await asyncio.to_thread(kit.recordings(tenant.tenant_id).recover)
                for rec in recovered:
                    contact_id = rec.call_id.removesuffix("-vm")
                    store.append(
                        [
                            Event(
                                tenant.tenant_id,
                                now_ms(),
                                RecordingStopped(contact_id, rec.call_id, rec.duration_ms or 0),
                            )
                        ]
                    )
                if recovered:
                    _log.warning(
                        "tenant %s: %d recording(s) left open by a stopped process recovered",
                        tenant.tenant_id,
                        len(recovered),
                    )
                rendered = await asyncio.to_thread(
                    kit.prerender, tenant.tenant_id, tenant.flows.values(), tenant.media.voice
                )
                if rendered:
                    _log.info(
                        "tenant %s: %d prompts spoken into the cache", tenant.tenant_id, rendered
                    )
                await asyncio.to_thread(kit.music)
            authenticator = DigestAuthenticator(
                secrets.token_bytes(32),
                settings.realm,
                algorithms=setup.voice.registrar.algorithms,
            )
            registrar = Registrar(setup.voice, authenticator)
            guard = TollFraudGuard(setup.voice.guard, setup.voice)
            engine = MediaEngine(loop, host, PortAllocator(low, high))
            switch = Switch(
                loop,
                voice=setup.voice,
                tenants=setup.tenants,
                centers=centers,
                store=store,
                registrar=registrar,
                guard=guard,
                media=engine,
                kit=kit,
                host=host,
                personal=personal,
            )
            for tenant in setup.tenants.values():
                # Callbacks a stopped process left waiting or half-dialled are dialled still.
                waiting = pending_callbacks(store.read(tenant.tenant_id))
                if waiting:
                    taken = switch.callbacks.restore(tenant.tenant_id, waiting)
                    _log.warning(
                        "tenant %s: %d callback(s) left pending by a stopped process taken back",
                        tenant.tenant_id,
                        taken,
                    )
            await switch.start(port)
        except BaseException:
            if personal is not None:
                personal.close()
            store.close()
            raise
        return cls(setup, switch, store)

    def close(self) -> None:
        self.switch.close()
        self.switch.media.close()
        self.store.close()


def _close_out(store: SqliteEventStore, tenant_id: str) -> None:
    """Close, in one append, the calls and logins a stopped process left open in the tenant's
    log, as of its last event: first, so that the ACD starts from a log with nothing open."""
    closing = close_out(store.read(tenant_id))
    if not closing.events:
        return
    store.append(closing.events)
    _log.warning(
        "tenant %s: a stopped process left %d contact(s) and %d agent(s) open: closed as of "
        "its last event (ts %d)",
        tenant_id,
        closing.contacts,
        closing.agents,
        closing.events[0].ts,
    )


#: The collector's thresholds for a running server: the youngest generation is collected every
#: 50,000 net allocations instead of 700. A call allocates thousands of short-lived objects
#: (messages, events, timers) that reference counting frees anyway; collecting them 70 times
#: less often cut the longest pause at 200 call setups/s from about 165 ms to about 60 ms
#: (``benchmarks/sip_load.py``), which keeps a pause well inside what the relayed RTP streams
#: and the SIP timers absorb.
GC_THRESHOLDS: Final = (50_000, 20, 100)


def settle_memory() -> None:
    """Once the server is up: collect, freeze what exists (it lives as long as the server, and
    full passes then skip it) and set :data:`GC_THRESHOLDS`."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)

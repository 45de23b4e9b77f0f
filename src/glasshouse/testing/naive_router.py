"""The reference router: a plain full scan of every agent and every waiting contact.

It defines what routing *means*; the production :class:`IndexedRouter` must choose exactly
what this one chooses, only faster. Tests and ``benchmarks/route.py`` run both side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from glasshouse.domain.acd.config import QueueSpec
from glasshouse.domain.acd.routing import agent_sort_key, eligible, skills_based_key
from glasshouse.domain.acd.state import AgentState, ContactState, Phase


class NaiveRouter:
    """Scans everything on every decision: O(agents) or O(waiting contacts) per decision."""

    def __init__(self, queues: Callable[[], Iterable[QueueSpec]]) -> None:
        self._queues = queues
        self._agents: dict[str, AgentState] = {}
        self._waiting: dict[str, ContactState] = {}

    def rebuild(self, agents: Iterable[AgentState], waiting: Iterable[ContactState]) -> None:
        self._agents = {a.agent_id: a for a in agents}
        self._waiting = {c.contact_id: c for c in waiting}

    def agent_changed(self, agent: AgentState) -> None:
        self._agents[agent.agent_id] = agent

    def add_waiting(self, contact: ContactState) -> None:
        self._waiting[contact.contact_id] = contact

    def remove_waiting(self, contact: ContactState) -> None:
        self._waiting.pop(contact.contact_id, None)

    def best_contact(self, agent: AgentState, channel: str) -> ContactState | None:
        best: ContactState | None = None
        for contact in self._waiting.values():
            if contact.phase is not Phase.WAITING or contact.channel != channel:
                continue
            if eligible(agent, contact) and (best is None or contact.key < best.key):
                best = contact
        return best

    def best_agent(self, contact: ContactState) -> AgentState | None:
        candidates = [a for a in self._agents.values() if eligible(a, contact)]
        if not candidates:
            return None
        if contact.queue.strategy == "skills_based":
            return min(candidates, key=lambda a: skills_based_key(a, contact))
        return min(candidates, key=lambda a: agent_sort_key(a, contact.queue))

    def all_agents(self, contact: ContactState) -> list[AgentState]:
        candidates = [a for a in self._agents.values() if eligible(a, contact)]
        return sorted(candidates, key=lambda a: agent_sort_key(a, contact.queue))

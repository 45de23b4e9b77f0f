"""Routing indexes: which waiting contact an available agent takes, and which agent a new
contact goes to, without scanning every agent or every contact.

Both directions use heaps with lazy deletion (an entry is void once its agent's token or its
contact's generation has moved on):

* Available agents sit in heaps keyed by (channel, skill, proficiency), one family of heaps
  per ordering the configured strategies need (idle time, calls taken), plus one heap per
  round-robin queue. A contact looks only at the heaps of its rarest required skill, at the
  levels it accepts.
* Waiting contacts sit in *groups*: one heap per (queue, channel, requirement), ordered by
  (-priority, arrival order). Groups are indexed by the first skill of their requirement (and
  remember its level), so an agent looks only at groups that its own skills could satisfy.

The result is defined exactly like the naive full scan in ``glasshouse.testing.naive_router``
(same candidates, same order, same tie-breaks), which tests and ``benchmarks/route.py`` check.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import Protocol

from glasshouse.domain.acd.config import MAX_PROFICIENCY, QueueSpec
from glasshouse.domain.acd.state import (
    AgentState,
    ContactState,
    Phase,
    Requirement,
    effective_requirement,
)


class Router(Protocol):
    """What the engine needs from a routing index."""

    def rebuild(self, agents: Iterable[AgentState], waiting: Iterable[ContactState]) -> None:
        """Index these agents and waiting contacts from scratch (settings changed)."""

    def agent_changed(self, agent: AgentState) -> None:
        """The agent's availability or ordering keys changed (its token was bumped)."""

    def add_waiting(self, contact: ContactState) -> None:
        """The contact is waiting (or waiting again) with its current requirement and key.
        A callback waiting out its queue's retry delay is added only once the delay is over."""

    def remove_waiting(self, contact: ContactState) -> None:
        """The contact no longer waits (the engine bumped its generation first)."""

    def best_contact(self, agent: AgentState, channel: str) -> ContactState | None:
        """The waiting contact of ``channel`` that ``agent`` should take next, if any."""

    def best_agent(self, contact: ContactState) -> AgentState | None:
        """The available agent a waiting contact should be offered to, by its queue's strategy."""

    def all_agents(self, contact: ContactState) -> list[AgentState]:
        """Every available agent eligible for the contact (ring-all), in a stable order."""


def eligible(agent: AgentState, contact: ContactState) -> bool:
    """May ``agent`` be offered ``contact`` now?"""
    members = contact.queue.members
    if members is not None and agent.agent_id not in members:
        return False
    return agent.available_for(contact.channel) and agent.satisfies(contact.requirement)


def agent_sort_key(agent: AgentState, queue: QueueSpec) -> tuple[int, int, int]:
    """Smaller is better: the order in which a queue's strategy prefers available agents."""
    strategy = queue.strategy
    if strategy == "least_calls":
        return (agent.calls, agent.idle_since, agent.order)
    if strategy == "round_robin":
        return (agent.rr_last.get(queue.queue_id, -1), 0, agent.order)
    return (0, agent.idle_since, agent.order)  # longest_idle, ring_all


def primary_skill(contact: ContactState) -> str | None:
    """The skill whose proficiency ranks agents in a skills-based queue: the queue's first
    listed skill, else the first skill (by name) the contact still requires."""
    for skill in contact.queue.skills:
        return skill
    return contact.requirement[0][0] if contact.requirement else None


def skills_based_key(agent: AgentState, contact: ContactState) -> tuple[int, int, int]:
    """Skills-based order: highest proficiency in the primary skill, then the longest idle."""
    skill = primary_skill(contact)
    level = agent.spec.skills.get(skill, 0) if skill is not None else 0
    return (-level, agent.idle_since, agent.order)


_AgentEntry = tuple[int, int, int, int, AgentState]  # (k1, k2, order, token, agent)
_ContactEntry = tuple[int, int, int, ContactState]  # (-priority, order, generation, contact)
_GroupKey = tuple[str, str, Requirement]  # (queue, channel, requirement)


_INF = 1 << 62


class _Group:
    __slots__ = ("channel", "heap", "level", "members", "multi", "queue", "requirement")

    def __init__(self, queue: QueueSpec, channel: str, requirement: Requirement) -> None:
        self.queue = queue
        self.channel = channel
        self.requirement = requirement
        self.multi = len(requirement) > 1
        self.level = requirement[0][1] if requirement else 0  # of the first required skill
        self.members = queue.members
        self.heap: list[_ContactEntry] = []

    def head(self) -> ContactState | None:
        heap = self.heap
        while heap:
            _, _, gen, contact = heap[0]
            if contact.route_gen == gen and contact.phase is Phase.WAITING:
                return contact
            heapq.heappop(heap)
        return None


class IndexedRouter:
    """The production router (see the module docstring)."""

    def __init__(self, queues: Callable[[], Iterable[QueueSpec]]) -> None:
        self._queues = queues
        # agent heaps: family -> (channel, skill, level) -> heap; skill "" = any agent
        self._idle: dict[tuple[str, str, int], list[_AgentEntry]] = {}
        self._calls: dict[tuple[str, str, int], list[_AgentEntry]] = {}
        self._rr: dict[tuple[str, str], list[_AgentEntry]] = {}  # (queue, channel) -> heap
        self._skill_agents: dict[str, int] = {}
        self._known_agents: set[str] = set()
        # contact groups
        self._groups: dict[_GroupKey, _Group] = {}
        # (channel, first required skill or "") -> the groups whose requirement starts there
        self._group_index: dict[tuple[str, str], dict[_GroupKey, _Group]] = {}
        self._use_calls = False
        self._use_any = False
        self._keys_cache: dict[tuple[str, str], tuple[tuple[tuple[str, str], int], ...]] = {}
        self._keys_spec: dict[str, object] = {}
        # round-robin queues by the first skill of their widest requirement ("" = none):
        # (queue id, members, widest requirement)
        self._rr_by_skill: dict[str, list[tuple[str, frozenset[str] | None, Requirement]]] = {}
        self._pushes = 0
        self._compact_at = 100_000

    # -- configuration -------------------------------------------------------------------

    def rebuild(self, agents: Iterable[AgentState], waiting: Iterable[ContactState]) -> None:
        """Queue settings changed: rebuild every index from the engine's state."""
        queues = list(self._queues())
        self._use_calls = any(q.strategy == "least_calls" for q in queues)
        # the "any agent" heaps serve only queues that require no skill at all
        self._use_any = any(not q.skills for q in queues)
        self._rr_by_skill = {}
        for q in queues:
            if q.strategy != "round_robin":
                continue
            # the widest the requirement gets: widened contacts reach these agents too
            widest = effective_requirement(q, {}, len(q.widen_after_s))
            first = widest[0][0] if widest else ""
            self._rr_by_skill.setdefault(first, []).append((q.queue_id, q.members, widest))
        self._idle.clear()
        self._calls.clear()
        self._rr = {}
        self._groups.clear()
        self._group_index.clear()
        for agent in agents:
            self.agent_changed(agent)
        for contact in waiting:
            self.add_waiting(contact)

    # -- agents ----------------------------------------------------------------------------

    def agent_changed(self, agent: AgentState) -> None:
        if agent.agent_id not in self._known_agents:
            self._known_agents.add(agent.agent_id)
            for skill in agent.spec.skills:
                self._skill_agents[skill] = self._skill_agents.get(skill, 0) + 1
        token = agent.token
        order = agent.order
        for channel in agent.spec.capacity:
            if not agent.available_for(channel):
                continue
            idle = agent.idle_since
            entry: _AgentEntry = (0, idle, order, token, agent)
            if self._use_any:
                heapq.heappush(self._idle.setdefault((channel, "", 0), []), entry)
            for skill, level in agent.spec.skills.items():
                heapq.heappush(self._idle.setdefault((channel, skill, level), []), entry)
            if self._use_calls:
                centry: _AgentEntry = (agent.calls, idle, order, token, agent)
                if self._use_any:
                    heapq.heappush(self._calls.setdefault((channel, "", 0), []), centry)
                for skill, level in agent.spec.skills.items():
                    heapq.heappush(self._calls.setdefault((channel, skill, level), []), centry)
            if self._rr_by_skill:
                self._push_round_robin(agent, channel)
        self._pushes += 1
        if self._pushes >= self._compact_at:
            self._compact()

    def _push_round_robin(self, agent: AgentState, channel: str) -> None:
        rr = self._rr_by_skill
        candidates = list(rr.get("", ()))
        for skill in agent.spec.skills:
            candidates.extend(rr.get(skill, ()))
        for queue_id, members, widest in candidates:
            if members is not None and agent.agent_id not in members:
                continue
            if not agent.satisfies(widest):
                continue
            entry: _AgentEntry = (
                agent.rr_last.get(queue_id, -1),
                0,
                agent.order,
                agent.token,
                agent,
            )
            heapq.heappush(self._rr.setdefault((queue_id, channel), []), entry)

    def _compact(self) -> None:
        """Drop void entries from every heap. Heaps nobody reads (a skill no waiting contact
        needs) would otherwise only grow; this keeps memory in proportion to live entries,
        at an amortised O(1) per push."""
        live = 0
        for family in (self._idle, self._calls):
            for key, heap in list(family.items()):
                channel = key[0]
                kept = [e for e in heap if e[4].token == e[3] and e[4].available_for(channel)]
                if kept:
                    heapq.heapify(kept)
                    family[key] = kept
                    live += len(kept)
                else:
                    del family[key]
        for rkey, heap in list(self._rr.items()):
            kept = [e for e in heap if e[4].token == e[3] and e[4].available_for(rkey[1])]
            heapq.heapify(kept)
            self._rr[rkey] = kept
            live += len(kept)
        for group in list(self._groups.values()):
            group.heap = [
                e for e in group.heap if e[3].route_gen == e[2] and e[3].phase is Phase.WAITING
            ]
            heapq.heapify(group.heap)
            live += len(group.heap)
        self._pushes = 0
        self._compact_at = max(100_000, live)

    def _heaps_for(self, contact: ContactState) -> list[list[_AgentEntry]]:
        """The agent heaps that hold every candidate for ``contact``, by its strategy."""
        queue = contact.queue
        channel = contact.channel
        if queue.strategy == "round_robin":
            return [self._rr.get((queue.queue_id, channel), [])]
        family = self._calls if queue.strategy == "least_calls" else self._idle
        req = contact.requirement
        if not req:
            return [family.get((channel, "", 0), [])]
        if len(req) == 1:
            skill, level = req[0]
        else:  # the rarest skill has the fewest candidates to look through
            counts = self._skill_agents
            skill, level = min(req, key=lambda item: (counts.get(item[0], 0), item[0]))
        return [
            family[key]
            for lv in range(level, MAX_PROFICIENCY + 1)
            if (key := (channel, skill, lv)) in family
        ]

    @staticmethod
    def _first_valid(
        heap: list[_AgentEntry], contact: ContactState, by_skill: bool = True
    ) -> _AgentEntry | None:
        """Pop void entries off ``heap`` and return its best eligible entry (left in place).
        Valid entries of agents not eligible for this contact are set aside and put back.
        ``by_skill``: the heap is keyed by one of the contact's required skills and a level
        that meets it."""
        channel = contact.channel
        members = contact.queue.members
        req = contact.requirement
        # a heap keyed by the one required skill at a sufficient level meets the requirement
        check_skills = len(req) > 1 or not by_skill
        aside: list[_AgentEntry] = []
        found: _AgentEntry | None = None
        while heap:
            entry = heap[0]
            agent = entry[4]
            if agent.token != entry[3] or not agent.available_for(channel):
                heapq.heappop(heap)
                continue
            if (members is None or agent.spec.agent_id in members) and (
                not check_skills or agent.satisfies(req)
            ):
                found = entry
                break
            aside.append(heapq.heappop(heap))
        for item in aside:
            heapq.heappush(heap, item)
        return found

    def best_agent(self, contact: ContactState) -> AgentState | None:
        if contact.queue.strategy == "skills_based":
            return self._best_by_proficiency(contact)
        best: _AgentEntry | None = None
        by_skill = contact.queue.strategy != "round_robin"
        for heap in self._heaps_for(contact):
            entry = self._first_valid(heap, contact, by_skill)
            # an entry's first three fields are the agent's sort key for this strategy
            if entry is not None and (best is None or entry[:3] < best[:3]):
                best = entry
        return best[4] if best is not None else None

    def _best_by_proficiency(self, contact: ContactState) -> AgentState | None:
        skill = primary_skill(contact)
        if skill is None:
            heaps = [self._idle.get((contact.channel, "", 0), [])]
        else:
            need = 1
            for name, level in contact.requirement:
                if name == skill:
                    need = level
            heaps = [
                self._idle.get((contact.channel, skill, lv), [])
                for lv in range(MAX_PROFICIENCY, need - 1, -1)
            ]
        for heap in heaps:  # highest level first; each heap is ordered by idle time
            entry = self._first_valid(heap, contact)
            if entry is not None:
                return entry[4]
        return None

    def all_agents(self, contact: ContactState) -> list[AgentState]:
        found: dict[str, AgentState] = {}
        for heap in self._heaps_for(contact):
            live = [e for e in heap if e[4].token == e[3] and e[4].available_for(contact.channel)]
            if len(live) != len(heap):
                heap[:] = live
                heapq.heapify(heap)
            for entry in live:
                agent = entry[4]
                if eligible(agent, contact):
                    found[agent.agent_id] = agent
        return sorted(found.values(), key=lambda a: agent_sort_key(a, contact.queue))

    # -- contacts --------------------------------------------------------------------------

    def add_waiting(self, contact: ContactState) -> None:
        req = contact.requirement
        gkey = (contact.queue.queue_id, contact.channel, req)
        group = self._groups.get(gkey)
        if group is None or group.queue is not contact.queue:
            group = _Group(contact.queue, contact.channel, req)
            old = self._groups.get(gkey)
            if old is not None:
                group.heap = old.heap
            self._groups[gkey] = group
            ikey = (contact.channel, req[0][0] if req else "")
            self._group_index.setdefault(ikey, {})[gkey] = group
        heapq.heappush(group.heap, (contact.key[0], contact.key[1], contact.route_gen, contact))
        self._pushes += 1

    def remove_waiting(self, contact: ContactState) -> None:
        # lazy: the entry is void because the engine bumped the contact's generation
        return None

    def _index_keys(
        self, agent: AgentState, channel: str
    ) -> tuple[tuple[tuple[str, str], int], ...]:
        """(group-index key, the agent's level in that skill) for every skill of the agent,
        plus the groups that require no skill (cached per agent and channel)."""
        cache_key = (agent.agent_id, channel)
        keys = self._keys_cache.get(cache_key)
        if keys is None or self._keys_spec.get(agent.agent_id) is not agent.spec:
            found = [((channel, ""), MAX_PROFICIENCY)]
            found.extend(((channel, skill), level) for skill, level in agent.spec.skills.items())
            keys = tuple(found)
            self._keys_cache[cache_key] = keys
            self._keys_spec[agent.agent_id] = agent.spec
        return keys

    def best_contact(self, agent: AgentState, channel: str) -> ContactState | None:
        best: ContactState | None = None
        best_key: tuple[int, int] = (_INF, _INF)
        index = self._group_index
        agent_id = agent.agent_id
        waiting = Phase.WAITING
        pop = heapq.heappop
        for ikey, level in self._index_keys(agent, channel):
            groups = index.get(ikey)
            if not groups:
                continue
            empty: list[_GroupKey] = []
            for gkey, group in groups.items():
                if group.level > level:
                    continue  # needs more of this skill than the agent has
                heap = group.heap
                while heap:  # the group's head, dropping void entries
                    entry = heap[0]
                    contact = entry[3]
                    if contact.route_gen == entry[2] and contact.phase is waiting:
                        break
                    pop(heap)
                else:
                    empty.append(gkey)
                    continue
                key = contact.key
                if key >= best_key:
                    continue
                if group.members is not None and agent_id not in group.members:
                    continue
                # a one-skill group is indexed by that very skill, its level checked above
                if group.multi and not agent.satisfies(group.requirement):
                    continue
                best, best_key = contact, key
            for gkey in empty:
                del groups[gkey]
                del self._groups[gkey]
        return best

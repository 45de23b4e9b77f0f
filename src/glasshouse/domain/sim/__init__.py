"""Discrete-event simulation driving the production ACD on a simulated clock."""

from glasshouse.domain.sim.scenario import (
    AgentGroup,
    ArrivalStream,
    Distribution,
    Scenario,
    ScenarioError,
    parse_scenario,
)
from glasshouse.domain.sim.simulation import SimResult, Simulation, simulate

__all__ = [
    "AgentGroup",
    "ArrivalStream",
    "Distribution",
    "Scenario",
    "ScenarioError",
    "SimResult",
    "Simulation",
    "parse_scenario",
    "simulate",
]

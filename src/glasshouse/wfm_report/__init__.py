"""The workforce planner's report: forecast accuracy, required vs scheduled agents, adherence
and the capacity plan on one static HTML page with inline SVG charts (``glasshouse wfm report``).

Presentation only: :mod:`.model` holds the domain results to show with the inputs behind them,
:mod:`.charts` draws SVG, :mod:`.render` fills the Jinja2 template shipped in ``templates/``.
"""

from glasshouse.wfm_report.model import (
    AdherenceSection,
    CapacitySection,
    CoverageSection,
    ForecastSection,
    PlannerReport,
    ShiftRow,
    StaffingBasis,
)
from glasshouse.wfm_report.render import render_report

__all__ = [
    "AdherenceSection",
    "CapacitySection",
    "CoverageSection",
    "ForecastSection",
    "PlannerReport",
    "ShiftRow",
    "StaffingBasis",
    "render_report",
]

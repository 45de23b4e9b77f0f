"""Glasshouse: a multi-tenant contact-center platform."""

__version__ = "0.1.0"

"""Glasshouse over HTTP: the JSON API (``/api/v1``), built by :func:`create_app`."""

from glasshouse.web.app import create_app

__all__ = ["create_app"]

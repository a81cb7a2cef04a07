"""Brandcast admin: the thin web app marketers use; a gRPC client of the orchestrator."""

from brandcast.admin.app import create_app
from brandcast.admin.settings import AdminSettings

__all__ = ["AdminSettings", "create_app"]

"""Brandcast orchestrator service."""

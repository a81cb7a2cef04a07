"""Brandcast email service."""

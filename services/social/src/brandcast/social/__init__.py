"""Brandcast social service."""

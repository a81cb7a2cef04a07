"""Brandcast sms service."""

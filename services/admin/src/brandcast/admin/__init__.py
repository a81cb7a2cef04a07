"""Brandcast admin: the thin web app marketers use; a gRPC client of the orchestrator."""

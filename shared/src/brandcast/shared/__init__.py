"""Brandcast common library: contracts, bus topology, configuration and telemetry."""

"""Mediation's entrypoints over HTTP: JSON resources (`*_api`) with their schemas, pages (`*_pages`)."""

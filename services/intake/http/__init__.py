"""Intake's entrypoints over HTTP: the case API, Open311, the resident's pages, staff pages."""

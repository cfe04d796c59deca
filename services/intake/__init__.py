"""Intake: residents file disputes (web form, JSON API, Open311) and follow them on a tracking page."""

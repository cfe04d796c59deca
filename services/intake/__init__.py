"""Intake: residents file disputes (JSON API now; web form and Open311 to come) and follow them."""

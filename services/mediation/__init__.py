"""Mediation: routes cases to studios and patrol teams; the mediator desk and case lifecycle."""

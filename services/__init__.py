"""The Concord services: intake, mediation, notify and council; each a package of the same shape."""

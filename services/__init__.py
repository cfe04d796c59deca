"""The three Concord services: intake, mediation and notify."""

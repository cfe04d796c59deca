"""Development and test tooling: local servers that stand in for production infrastructure.

Nothing here is imported by the services themselves.
"""

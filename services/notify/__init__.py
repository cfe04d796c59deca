"""Notify: turns case events into templated notifications and delivers each exactly once."""

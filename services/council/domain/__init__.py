"""Council's pure rules and tables, no I/O (no database, broker, web framework or other layers)."""

"""Council's pure rules and tables (no I/O): register rows, and later the Art 278 vote rule."""

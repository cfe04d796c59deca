"""Pure rules of mediation: no I/O here, only tables and functions tested on their own."""

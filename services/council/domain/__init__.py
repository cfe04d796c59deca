"""Pure rules and tables of the council, no I/O: no database, broker, web framework, or other layers."""

"""Pure rules of intake: case references, tracking tokens, the public timeline. No I/O here."""

"""Pure rules of notify: who is told what (rules as data) and to which addresses. No I/O here."""

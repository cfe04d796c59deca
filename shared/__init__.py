"""Code the three Concord services share: config, database, messaging, outbox, logging, HTTP."""

"""The one messaging layer: envelope, event schemas, topology, confirmed publishing, consumers."""

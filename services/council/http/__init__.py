"""Council's entrypoints: pages with their forms, JSON resources with their schemas, one module per area."""

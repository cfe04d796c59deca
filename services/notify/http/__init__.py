"""Notify's entrypoints over HTTP: the delivery log API, staff pages, residents' preference pages."""

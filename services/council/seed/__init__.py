"""Council's demo data for local runs: a household register for the seed community."""

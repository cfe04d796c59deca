"""Council: the owners' collective matters — the household register, consultations and votes, meetings, plan, board."""

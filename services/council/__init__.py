"""Council: the owners' collective matters — the household register, consultations, votes, meetings, plan, board."""

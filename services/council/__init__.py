"""Council: the owners' collective matters (register, consultations, votes, meetings, plan, board)."""

"""Jobs: one per accepted photo, from RECEIVED to exactly one terminal state."""

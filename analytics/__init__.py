"""After the broadcast: what is recorded while a room is live, and the broadcast report built from it."""

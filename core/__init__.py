"""Small shared kernel: settings, database, Redis, errors, clock, auth tokens."""

"""Plumbing every service shares: server factory, auth, config, errors, db, logging."""

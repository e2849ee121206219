"""Storage: events and dead letters in the database, their task history, retention."""

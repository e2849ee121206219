"""Ingestion: from an accepted request to the queue (admission, dedup claims, the event
stream, task ids, the app directory)."""

"""Ingestion: HTTP parsing, auth by write key, verdict, hashing, dedup, enqueue."""

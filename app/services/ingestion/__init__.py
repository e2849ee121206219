"""Ingestion below HTTP: strict JSON and gzip (json_text, gzip_data), judging an event
(verdicts), admission with its dedup claims (admission, claims), the event stream, task ids
and the app directory."""

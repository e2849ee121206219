"""Ingestion's HTTP side: routes, reading the request body, the write key, CORS, SDK settings
(judging and admission are services/ingestion/)."""

"""Webhooks: alerts and digests posted to a JSON receiver (signed) or a Slack incoming webhook.

`urls` checks where a webhook may point, `payloads` writes the bodies, `signing` the HMAC,
`transport` makes one POST, `hooks` adds and removes webhooks, `deliveries` records, attempts,
retries and prunes the messages.
"""

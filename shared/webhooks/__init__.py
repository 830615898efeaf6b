"""Outgoing webhooks: Standard Webhooks signing, SSRF-safe delivery, retries from an outbox."""

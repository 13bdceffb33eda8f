"""Recordings and call records: capture, retention by law with holds, auditor retrieval (B §5.10)."""

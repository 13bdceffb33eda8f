"""Call records: one row per call the product sees, whichever feature placed or took it.

The hotline writes queue calls, callbacks and click-to-dial; the SOS its legs; care calls
theirs; the recordings feature attaches audio and retention to these rows (B §5.10: caller,
callee, recording serial number and call record, kept at least 3 years).
"""

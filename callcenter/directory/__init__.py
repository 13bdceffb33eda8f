"""The directory: areas, elders, contacts, providers and console users; CSV import."""

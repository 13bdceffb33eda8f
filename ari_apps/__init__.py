"""Stasis applications: the call flows the product runs over ARI."""

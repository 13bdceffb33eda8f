"""Eldercare hotline and social-alarm call centre on Asterisk."""

__version__ = "0.1.0"

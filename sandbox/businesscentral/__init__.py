"""Loopback sandbox; see server.py."""

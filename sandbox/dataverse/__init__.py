"""Loopback Dataverse Web API (v9.2 subset) backed by SQLite. Entry point: server.build_app."""

"""pytest fixtures for the sync area (sandboxes started on 127.0.0.1, port 0)."""

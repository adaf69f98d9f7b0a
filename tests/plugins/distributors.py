"""pytest fixtures for the distributors area (sandboxes started on 127.0.0.1, port 0)."""

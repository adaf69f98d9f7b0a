"""pytest fixtures for the dataverse area (sandboxes started on 127.0.0.1, port 0)."""

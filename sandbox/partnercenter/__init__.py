"""Partner Center REST v1 + Microsoft Graph partner billing sandbox (one loopback server for both)."""

"""The wiring of each scheduled or queued job. Triggers in functions/ and the CLI call these functions."""

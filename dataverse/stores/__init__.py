"""Typed reads and writes per table: callers get billing models or small records, never raw rows."""

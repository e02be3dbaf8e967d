"""Training criteria of the plugin (registered on import)."""

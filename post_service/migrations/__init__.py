"""post_service schema migrations (see mesh.migrations)."""

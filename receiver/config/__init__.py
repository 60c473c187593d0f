"""Configuration: every setting read from the environment once, in one place (warehouse's config style)."""

"""Browser pages, one module per page area."""

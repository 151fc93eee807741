"""One module a revision, written by hand; each names the revision it follows in ``down_revision``."""

"""Jinja templates shipped with titan-deploy (the repository's templates/ dir, packaged)."""

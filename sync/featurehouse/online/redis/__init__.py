"""The Redis online store: the only package importing redis (and hiredis)."""

"""Offline -> online: gate on dbt tests, read the macro's latest rows from the warehouse,
publish them to the online store (`materialize`); and check that it serves what the warehouse
says (`parity`)."""

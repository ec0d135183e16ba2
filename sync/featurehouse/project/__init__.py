"""What the dbt project says: settings and profiles, dbt's artifacts, the feature view registry,
and dbt invocations that render the macros' SQL. No warehouse connection, no online store."""

"""Scheduled pipelines: `featurehouse run` builds the selected feature views with dbt, gates
them on dbt's own results, publishes the views that passed and records the run."""

"""Featurehouse: a dbt-native feature store (feature views are dbt models, served from Redis)."""

__version__ = "0.1.0"

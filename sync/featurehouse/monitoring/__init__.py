"""Monitoring: distribution drift of feature views in the warehouse (`drift`) and its history
rows (`history`)."""

"""Feature services into the online store: each sync writes every service of the manifest, so
the feature server and Redis-only readers serve them by name without the dbt project."""

from __future__ import annotations

from collections.abc import Sequence

from featurehouse.online import OnlineStore, ServiceRecord
from featurehouse.project.services import FeatureService


def service_record(service: FeatureService) -> ServiceRecord:
    """What the store keeps of a service: its references and who to ask about it."""
    deprecated = {v.ref: v.deprecation_date for v in service.views if v.deprecation_date}
    return ServiceRecord(
        refs=service.refs,
        description=service.description,
        owner=service.owner,
        sample_rate=service.sample_rate,
        extra={
            "unique_id": service.unique_id,
            "label": service.label,
            "maturity": service.maturity,
            "url": service.url,
            "owner_email": service.owner_email,
            "views": [v.ref for v in service.views],
            "deprecation_dates": deprecated,
        },
    )


def publish_services(store: OnlineStore, services: Sequence[FeatureService]) -> None:
    store.publish_services([service_record(s) for s in services])

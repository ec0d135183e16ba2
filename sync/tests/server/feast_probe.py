"""Run by the Feast SDK's own Python (tests' separate venv): Feast's FeatureStore with its
remote online store pointed at `featurehouse serve`; prints what Feast answered, as JSON."""

import json
import sys

from feast import FeatureService, FeatureStore

ROWS = [{"customer_id": 1151}, {"customer_id": 987654}]


def answer(response):
    columns = response.to_dict()
    names = list(columns)
    statuses = [list(r.statuses) for r in response.proto.results]
    return {"columns": columns, "statuses": dict(zip(names, statuses, strict=True))}


store = FeatureStore(repo_path=sys.argv[1])
requests = json.loads(sys.argv[2])
out = {}
for name, request in requests.items():
    features = request["features"]
    if isinstance(features, str):
        features = FeatureService(name=features, features=[])
    out[name] = answer(
        store.get_online_features(
            features=features, entity_rows=ROWS, full_feature_names=request["full"]
        )
    )
print(json.dumps(out, default=str))

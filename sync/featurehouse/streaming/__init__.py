"""Real-time features: raw events from Kafka or Redis Streams, landed in the offline log the
view's model reads, recomputed online with the view's own compiled SQL (README: Real-time
features).

`spec` reads the `stream:` declarations, `compile` the chain of models, `evaluate` recomputes
touched entities, `landing` commits events with their broker positions, `consumer` drives it.
"""

"""The state store: the only code that talks to Redis (records, configs, catalogue, counters)."""

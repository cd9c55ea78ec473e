"""Operating a fleet: health checks, Flower and the benchmark."""

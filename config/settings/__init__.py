"""Settings package: `base` for every deployment, plus one module per special mode."""

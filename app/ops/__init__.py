"""Operations: what the operator and the platform ask of a running process (health and
readiness probes, metrics, Content-Security-Policy reports), apart from any feature."""

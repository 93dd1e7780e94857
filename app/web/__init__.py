"""Cross-cutting HTTP concerns: security headers, error pages, health probes, templating."""

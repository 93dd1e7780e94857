"""Cross-cutting HTTP concerns: security headers, error pages, health probes, templating,
and serving (uvicorn, stopped gracefully)."""

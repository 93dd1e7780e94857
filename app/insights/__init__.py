"""Insights: what a creator's page was seen and clicked, counted without cookies or addresses."""

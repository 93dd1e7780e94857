"""The creator studio: handle, profile and links, edited live with htmx."""

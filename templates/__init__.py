"""Jinja2 templates. This file makes the folder the package `app.templates`, which is how an
installed Linkmint (wheel or editable) finds it: see app/resources.py."""

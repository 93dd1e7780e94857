"""Static files, served under /static. This file makes the folder the package `app.static`,
which is how an installed Linkmint (wheel or editable) finds it: see app/resources.py."""

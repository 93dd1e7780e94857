"""Linkmint's benchmark harness (issue 6): `make bench` or `python -m bench`.

It seeds a data set into its own database, serves the app the way production would
(several workers, a pool sized for them, no debug, no access log, 127.0.0.1 only), loads it
with `wrk` from a second process, and compares every scenario with a plain-text handler of
the same app measured in the same run. See BENCHMARKS.md.
"""

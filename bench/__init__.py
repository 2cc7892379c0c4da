"""Benchmarks of the platform beside the machine's own limits (issue 13): `python -m bench.run`."""

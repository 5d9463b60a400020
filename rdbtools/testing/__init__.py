"""rdbtool in test suites: a pytest plugin, an in-process client and persistence faults on demand.

Real persistence is what sets these apart from an emulator: what a test's application leaves on disk is an
RDB or AOF file that a real Redis loads, and its failures (a full disk, a failing fsync) behave as Redis's do.
"""

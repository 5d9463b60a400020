"""``rdbtool report``: where an RDB file's memory goes, key by key as the target server's MEMORY USAGE counts it.

One pass over the file, memory flat whatever its size: each key is measured (measure.py), folded into a
Summary (summary.py: totals, top keys in heaps, a capped prefix tree, TTLs, thresholds) and optionally written
out as a per-key row (rows.py); run.py reads files, one process each with ``jobs``, and merges their summaries.
"""

"""Reading and checking AOF files: every layout, with offsets, lines and timestamps."""

"""The RDB and AOF formats, declared once as construct schemas, each with its fast path beside it."""

"""Reading RDB files: the streaming reader, the record model, filters and verify."""

"""The data model and a command engine without I/O: commands in, the keyspace changed, replies out."""

"""Write the records of a file in the output formats of ``rdbtool dump``."""

"""Fitted statistics as small tables, each computed by one query (or column blocks of one)."""

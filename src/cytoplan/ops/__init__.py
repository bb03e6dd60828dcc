"""Profiling operations: LazyFrame in, LazyFrame out. Never touches paths."""

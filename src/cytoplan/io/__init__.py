"""Sources and sinks: every function here returns or consumes a polars.LazyFrame."""

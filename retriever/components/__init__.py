"""haystack components of the newsqa pipelines."""

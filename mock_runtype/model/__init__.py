"""The records' rules, in plain Python: no Flask, no server."""

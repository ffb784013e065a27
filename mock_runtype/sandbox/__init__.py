"""One server's state around the model: fixtures, scenarios, the journal, the clock's owner."""

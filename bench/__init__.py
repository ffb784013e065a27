"""Benchmarks of mock-runtype: side by side with Prism, engine choice, growth with data (`make bench`)."""

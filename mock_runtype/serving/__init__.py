"""Running the app: the HTTP engine, the seam the app is served through, the access log."""

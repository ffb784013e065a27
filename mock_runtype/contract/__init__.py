"""What the API promises: the OpenAPI document and the check of answers against it."""

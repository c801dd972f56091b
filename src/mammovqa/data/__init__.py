"""Data sources (phantom and real readers), image preparation and verification."""

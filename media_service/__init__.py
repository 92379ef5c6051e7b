"""media_service: upload sessions, their verification, and the media records."""

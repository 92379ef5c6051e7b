"""Throwaway PostgreSQL databases on the machine's server, one per mesh or test."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse, urlunparse

import psycopg2

ADMIN_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


@contextmanager
def fresh_postgres_database(admin_url: str = ADMIN_DATABASE_URL) -> Iterator[str]:
    """A new, empty database for one test session; dropped afterwards."""
    name = f"mesh_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(admin_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield urlunparse(urlparse(admin_url)._replace(path=f"/{name}"))
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()

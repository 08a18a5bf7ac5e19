"""Exit 0 when the PostgreSQL and Redis URLs given are reachable, else say why and exit 1.

`make test` uses it to decide whether to run the suite a second time on the real services.
"""

import sys
from urllib.parse import urlparse


def postgres_ok(url: str) -> str | None:
    import psycopg2

    u = urlparse(url)
    try:
        psycopg2.connect(
            host=u.hostname,
            port=u.port or 5432,
            user=u.username or "postgres",
            password=u.password or None,
            dbname="postgres",
            connect_timeout=3,
        ).close()
    except psycopg2.Error as exc:
        return f"PostgreSQL at {u.hostname}:{u.port or 5432}: {str(exc).strip()}"
    return None


def redis_ok(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return f"Redis at {url}: {exc}"
    return None


def main(argv: list[str]) -> int:
    pg_url, redis_url = argv
    problems = [p for p in (postgres_ok(pg_url), redis_ok(redis_url)) if p]
    for problem in problems:
        print(f"not reachable: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

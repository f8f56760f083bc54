"""cachecyt: an in-memory cache speaking RESP2/RESP3 and the memcached text
protocol over one shared-memory keyspace."""

__version__ = "0.1.0"
REDIS_VERSION = "7.0.15"      # the Redis whose behaviour the commands follow

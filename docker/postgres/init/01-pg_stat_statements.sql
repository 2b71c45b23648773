-- The guide's slow-query SQL reads pg_stat_statements (shared_preload_libraries in docker-compose.yml).
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

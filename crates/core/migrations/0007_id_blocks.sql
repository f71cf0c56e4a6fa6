-- Blocks of ids handed out by the group-commit writer on MySQL, which has no sequences: one
-- row a table, `next_id` the first id not yet handed out (PostgreSQL draws from the table's own
-- sequence, SQLite counts from the table's largest id; neither uses this table).
CREATE TABLE id_blocks (
    name VARCHAR(64) NOT NULL PRIMARY KEY,
    next_id BIGINT NOT NULL
){{TABLE}};

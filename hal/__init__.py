"""Hardware contracts: what the charging core needs from a board, and nothing about how."""

"""`make pages` learns what each request ran from PostgreSQL's statement log (it never imports
the app): the parser keeps the app's statements with their values and drops the rest."""

from loadtests.pages import OWN_CONNECTIONS, Statement, parse_statements

# As PostgreSQL 15 writes it with log_statement = 'all' and LOG_PREFIX (16 says "Parameters").
LOG = f"""\
LVDLOG 41 [unknown]|LOG:  statement: BEGIN
LVDLOG 41 [unknown]|LOG:  statement: ;
LVDLOG 41 [unknown]|LOG:  execute <unnamed>: SELECT events.id
\tFROM events
\tWHERE events.app_id = $1::INTEGER AND events.event_name = $2::VARCHAR
LVDLOG 41 [unknown]|DETAIL:  parameters: $1 = '7', $2 = 'it''s'
LVDLOG 41 [unknown]|LOG:  execute _pg3_0: SELECT users.id FROM users WHERE users.id = $1::INTEGER
LVDLOG 41 [unknown]|DETAIL:  Parameters: $1 = NULL
LVDLOG 52 {OWN_CONNECTIONS}|LOG:  statement: SELECT max(id) FROM events
LVDLOG 41 [unknown]|LOG:  execute <unnamed>: INSERT INTO event_stats (app_id) VALUES ($1::INTEGER)
LVDLOG 41 [unknown]|DETAIL:  parameters: $1 = '1'
LVDLOG 41 [unknown]|LOG:  execute <unnamed>: INSERT INTO event_stats (app_id) VALUES ($1::INTEGER)
LVDLOG 41 [unknown]|DETAIL:  parameters: $1 = '2'
LVDLOG 41 [unknown]|LOG:  statement: SAVEPOINT "_pg3_1"
LVDLOG 41 [unknown]|LOG:  statement: COMMIT
LVDLOG 9 |LOG:  checkpoint starting: time
"""


def test_the_apps_statements_with_their_values_and_nothing_else():
    assert parse_statements(LOG) == [
        Statement(
            "SELECT events.id\nFROM events\nWHERE events.app_id = $1::INTEGER "
            "AND events.event_name = $2::VARCHAR",
            ("'7'", "'it''s'"),
        ),
        Statement("SELECT users.id FROM users WHERE users.id = $1::INTEGER", ("NULL",)),
        # One executemany, logged once per row: counted once.
        Statement("INSERT INTO event_stats (app_id) VALUES ($1::INTEGER)", ("'2'",)),
    ]

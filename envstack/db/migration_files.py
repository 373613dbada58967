"""What a stack's program needs to know about migrations without connecting to a database.

Kept apart from ``envstack.db.migrations`` so the Pulumi program, which runs twice on every
``pulumi up``, checks file names and passes limits without importing psycopg.
"""

from __future__ import annotations

import re

# The CLI's /^([0-9]+)_(.*)\.sql$/u: "." is anything but a JavaScript line terminator.
FILE_PATTERN = re.compile(r"^(?P<version>[0-9]+)_(?P<name>[^\n\r\u2028\u2029]*)\.sql\Z")

# What bounds a run (envstack:migrations settings; the migrate command reads them from these
# variables, which the stack sets): a statement that waits longer than lock_timeout for a
# table lock gives up, so app queries queued behind its lock request flow again; a statement
# runs at most statement_timeout; a run waits at most lock_wait for another run's lock.
LIMIT_VARIABLES = {
    "lock_timeout": "ENVSTACK_MIGRATION_LOCK_TIMEOUT",
    "statement_timeout": "ENVSTACK_MIGRATION_STATEMENT_TIMEOUT",
    "lock_wait": "ENVSTACK_MIGRATION_LOCK_WAIT",
}

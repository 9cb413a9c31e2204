"""PostgreSQL, with a health check that costs no round trip when it can.

With persistent connections Django checks, once per request, that the
connection still works before using it (CONN_HEALTH_CHECKS): a ``SELECT 1``,
one more round trip on every request. An idle connection has nothing to
read, so a zero-timeout poll of its socket tells the usual case apart: when
nothing arrived, the server has not hung up (a terminated backend or a
restart sends an error and closes the socket first). When something did
arrive, Django's own ``SELECT 1`` decides.
"""

import select

from django.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        if self.connection is None:
            return False
        try:
            readable, _, _ = select.select([self.connection.fileno()], [], [], 0)
        except (OSError, ValueError, base.Database.Error):
            return False
        return not readable or super().is_usable()

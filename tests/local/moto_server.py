"""moto's server, with the RDS semantics AWS has and moto (5.x) skips, so the local stack does not let
the product rely on what AWS never does. Run with the moto venv's Python:

    .venv-moto/bin/python tests/local/moto_server.py -H 127.0.0.1 -p 5000

- `PromoteReadReplica`: AWS makes the promoted instance standalone: `ReadReplicaSourceDBInstanceIdentifier`
  is gone and the source no longer lists it among its replicas. moto only flips an internal flag, so a
  promoted replica still looks like a replica (and an unpromoted one would have to be accepted as a
  primary to make a promotion test pass). Aurora's `PromoteReadReplicaDBCluster` is right in moto.
  AWS goes through `modifying` before `available`; moto is `available` at once (not simulated).

And one change of speed, not semantics: werkzeug writes a response's headers and body separately, so
with Nagle on the body waits for the client's delayed ACK (~40 ms per response on loopback).
"""

import sys

from moto.rds import models as rds_models
from moto.server import main
from werkzeug.serving import WSGIRequestHandler

_promote = rds_models.RDSBackend.promote_read_replica


def promote_read_replica(self, db_kwargs):
    database = self.databases.get(db_kwargs["db_instance_identifier"])
    source = database.source_db_instance_identifier if database is not None and database.is_replica else None
    promoted = _promote(self, db_kwargs)
    if source is not None:
        try:
            self.find_db_from_id(source).remove_replica(promoted)
        except Exception:  # noqa: BLE001 - the source is gone or in another Region: nothing lists it
            pass
        promoted.source_db_instance_identifier = None
    return promoted


rds_models.RDSBackend.promote_read_replica = promote_read_replica
WSGIRequestHandler.disable_nagle_algorithm = True

if __name__ == "__main__":
    sys.exit(main())

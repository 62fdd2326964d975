"""Throwaway PostgreSQL clusters with the demo data, beside the embedded one.

For what must not touch the project's cluster: tests that stop a server or replicate it
(the shared test cluster stays up for every other test), and the load benchmark.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

from stations.cluster import Cluster
from stations.demo import demo_database


@contextlib.contextmanager
def spare_primary(name: str) -> Iterator[tuple[Cluster, str]]:
    """A new cluster with a ``stations`` database holding the demo data; its URL.

    It lives next to the project's cluster (a folder its system user can reach) and is
    stopped and deleted afterwards.
    """
    base = Cluster.from_settings()
    root = base.root.parent / "spare-clusters" / name
    cluster = Cluster(root, base.port, base.run_as, "64MB")  # own socket folder: no clash
    if (root / "data").exists():  # left by an interrupted run
        cluster.down()
    shutil.rmtree(root, ignore_errors=True)
    try:
        cluster.up()
        yield cluster, demo_database("stations", cluster.url("stations"))
    finally:
        cluster.down()
        shutil.rmtree(root, ignore_errors=True)

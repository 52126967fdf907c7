"""The several-process topology of issue 18 as a fixture: the same code as bench/topology.py
(bench/harness/topology.py): HAProxy in front of 2 `omnistream serve`, 2 `omnistream
worker`, a PostgreSQL primary and a streaming replica, all real processes on loopback,
started once per module (about 20-30 s on two cores) and stopped for sure after it.

bench/ is put at the END of sys.path here, only for these tests, so `harness` (the bench
package) imports as the bench scripts import it, and no bench script can shadow a library.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BENCH = str(Path(__file__).resolve().parents[2] / "bench")
if BENCH not in sys.path:
    sys.path.append(BENCH)

from harness.topology import Topology, running_topology  # noqa: E402


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """A running topology for the module (the admin: .admin_email / .admin_password)."""
    with running_topology(tmp_path_factory.mktemp("topology")) as topo:
        yield topo

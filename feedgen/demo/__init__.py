"""Demo data, out of the production path: a realistic CRM for ``feedgen demo`` and the benchmark.

data      the generator: users, teams, activities and participants, deterministic per seed
bulkload  loading rows through each driver's bulk path (executemany, COPY)
setup     ``feedgen demo``: seed the CRM, create feedgen's tables, issue a feed per subject
"""

from .data import DemoCounts, DemoSpec, seed_crm
from .setup import set_up_demo

__all__ = ["DemoCounts", "DemoSpec", "seed_crm", "set_up_demo"]

# SPDX-License-Identifier: MIT
"""The fault-injection suite: `faults.py [--cases 1,2,...]` runs the chosen cases (default all)
against the real daemons on 127.0.0.1 and prints the table case | what must hold | result |
figure(s); the exit status is 1 when a case failed."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases_agent  # noqa: E402,F401 - cases 1-3, 13, 14: the monitored machine misbehaves
import cases_input  # noqa: E402,F401 - cases 4-6: hostile input and load
import cases_pg  # noqa: E402,F401 - cases 15-17: PostgreSQL stopped, sessions ended, kill -9
import cases_scale  # noqa: E402,F401 - cases 31-32: CPU starvation, endless replies
import cases_state  # noqa: E402,F401 - cases 10-12: clock jumps, deletes in flight, leaks
import cases_store  # noqa: E402,F401 - cases 7-9: crashes, a locked or full database
from faultlib import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

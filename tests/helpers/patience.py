"""How long a test waits for something that is bound to happen (a process's output, a task's
end, an event): generous, because a loaded shared 2-core machine is slow by a factor of ten at
times. Every wait ends as soon as its condition holds; the limit only bounds a broken run, which
then fails with what it saw. GI_TEST_PATIENCE (seconds) overrides it."""

from __future__ import annotations

import os

PATIENCE = float(os.environ.get("GI_TEST_PATIENCE", "300"))

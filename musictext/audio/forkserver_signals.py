"""Imported only by multiprocessing's fork server (tower._context's preload list): it ignores
SIGTERM, as it already ignores Ctrl-C, so a SIGTERM to the run's process group leaves it to the run
to stop its workers; the fork server exits by itself when the run does."""

import signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)
